using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Freeside.Features.Common.Errors;
using Freeside.Features.Identity.S2S;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;

namespace Freeside.Features.Inference.Finn;

/// <summary>One call to finn: who asks (the token's claims, carrying the reservation) and the exact body bytes.</summary>
public sealed record FinnCall(S2SClaims Claims, byte[] Body);

/// <summary>finn's public view of an agent's personality (contracts/finn.md, "Endpoints").</summary>
public sealed record FinnPersonality(string PersonalityId, string DisplayName, string Element, string Summary);

/// <summary>
/// The client of loa-finn's contract 7.x. Every attempt is signed afresh (new jti, same reservation);
/// 502/503 and refused connections before the first byte are retried at most twice with backoff;
/// a circuit breaker answers <see cref="FinnUnavailable"/> at once, without a connection, while finn
/// keeps failing; a single first-byte deadline covers all attempts up to the stream_start event.
/// </summary>
public sealed partial class FinnClient
{
    public const string HttpClientName = "finn";
    public const int MaxRetries = 2;
    public const int ContractMajor = 7;

    private readonly IHttpClientFactory _httpClients;
    private readonly S2SJwtSigner _signer;
    private readonly InferenceSettings _settings;
    private readonly InferenceMetrics _metrics;
    private readonly ILogger<FinnClient> _logger;
    private readonly ResiliencePipeline<HttpResponseMessage> _breaker;
    private readonly CircuitBreakerStateProvider _state = new();

    public FinnClient(IHttpClientFactory httpClients, S2SJwtSigner signer, InferenceSettings settings, InferenceMetrics metrics,
        TimeProvider time, ILogger<FinnClient> logger)
    {
        _httpClients = httpClients;
        _signer = signer;
        _settings = settings;
        _metrics = metrics;
        _logger = logger;
        _breaker = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                FailureRatio = 0.5,
                MinimumThroughput = settings.BreakerMinimumCalls,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = settings.BreakDuration,
                StateProvider = _state,
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutException>()
                    .HandleResult(r => r.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable),
                OnOpened = _ =>
                {
                    LogBreakerOpened(_logger, settings.BreakDuration.TotalSeconds);
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    LogBreakerClosed(_logger);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
        metrics.ObserveBreaker(() => _state.CircuitState);
    }

    public CircuitState BreakerState => _state.CircuitState;

    /// <summary>Opens a stream. The result owns the HTTP response until disposed.</summary>
    public async Task<Result<FinnStream>> StreamAsync(FinnCall call, CancellationToken cancellationToken)
    {
        var deadline = new CancellationTokenSource();
        var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        deadline.CancelAfter(_settings.FirstByteTimeout);
        var handedOver = false;
        try
        {
            var opened = await SendWithRetriesAsync("/v1/agents/stream", call, stream: true, deadline, linked.Token, cancellationToken);
            if (!opened.IsSuccess)
            {
                return opened.Error!;
            }

            var stream = new FinnStream(opened.Value, deadline, linked);
            var first = await stream.ReadStartAsync(_settings.FirstByteTimeout, linked.Token, cancellationToken);
            if (!first.IsSuccess)
            {
                await stream.DisposeAsync();
                return first.Error!;
            }

            handedOver = true;
            return stream;
        }
        finally
        {
            if (!handedOver)
            {
                linked.Dispose();
                deadline.Dispose();
            }
        }
    }

    /// <summary>finn's shown personality for an NFT (the claims need no real reservation).</summary>
    public async Task<Result<FinnPersonality>> GetPersonalityAsync(S2SClaims claims, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(_settings.FirstByteTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var path = "/v1/agents/personality?nft_id=" + Uri.EscapeDataString(claims.NftId ?? "");
        var sent = await SendWithRetriesAsync(path, new FinnCall(claims, []), stream: false, deadline, linked.Token, cancellationToken);
        if (!sent.IsSuccess)
        {
            return sent.Error!;
        }

        using var response = sent.Value;
        try
        {
            using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(linked.Token), cancellationToken: linked.Token);
            var root = json.RootElement;
            return new FinnPersonality(
                root.GetProperty("personality_id").GetString()!, root.GetProperty("display_name").GetString()!,
                root.GetProperty("element").GetString()!, root.GetProperty("summary").GetString()!);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return new FinnUnavailable("finn answered the personality request with a body outside the contract.");
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new FinnTimedOut(_settings.FirstByteTimeout);
        }
    }

    private async Task<Result<HttpResponseMessage>> SendWithRetriesAsync(string path, FinnCall call, bool stream,
        CancellationTokenSource deadline, CancellationToken token, CancellationToken callerToken)
    {
        var http = _httpClients.CreateClient(HttpClientName);
        for (var attempt = 0; ; attempt++)
        {
            if (attempt > 0)
            {
                _metrics.Retried();
                try
                {
                    await Task.Delay(_settings.RetryBackoff * attempt, token);
                }
                catch (OperationCanceledException) when (deadline.IsCancellationRequested && !callerToken.IsCancellationRequested)
                {
                    return new FinnTimedOut(_settings.FirstByteTimeout);
                }
            }

            var signed = await _signer.SignAsync(call.Claims, call.Body, token);
            if (!signed.IsSuccess)
            {
                return signed.Error!;
            }

            HttpResponseMessage response;
            try
            {
                response = await _breaker.ExecuteAsync(async ct =>
                {
                    using var request = new HttpRequestMessage(stream ? HttpMethod.Post : HttpMethod.Get, new Uri(_settings.FinnUrl, path));
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", signed.Value.Token);
                    if (stream)
                    {
                        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
                        request.Content = new ByteArrayContent(call.Body);
                        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    }

                    try
                    {
                        return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                    }
                    catch (OperationCanceledException) when (deadline.IsCancellationRequested && !callerToken.IsCancellationRequested)
                    {
                        throw new TimeoutException("finn sent no first byte in time.");
                    }
                }, token);
            }
            catch (BrokenCircuitException)
            {
                _metrics.ShortCircuited();
                return new FinnUnavailable("finn is failing; its circuit breaker is open, so no call was made.");
            }
            catch (TimeoutException)
            {
                return new FinnTimedOut(_settings.FirstByteTimeout);
            }
            catch (HttpRequestException e)
            {
                LogUnreachable(_logger, attempt + 1, e.HttpRequestError);
                if (attempt < MaxRetries)
                {
                    continue;
                }

                return new FinnUnavailable("finn could not be reached.");
            }

            if (response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable)
            {
                LogUpstreamStatus(_logger, attempt + 1, (int)response.StatusCode);
                response.Dispose();
                if (attempt < MaxRetries)
                {
                    continue;
                }

                return new FinnUnavailable($"finn answered {(int)response.StatusCode} on {attempt + 1} attempts.");
            }

            if (!response.IsSuccessStatusCode)
            {
                using (response)
                {
                    return await RefusalAsync(response, token);
                }
            }

            // invoke and stream must name their version; the personality endpoint need not, and is checked when it does.
            var hasVersion = response.Headers.TryGetValues("X-Contract-Version", out var values);
            var version = hasVersion ? values!.FirstOrDefault() ?? "" : "";
            if ((stream || hasVersion) && !IsCompatible(version))
            {
                response.Dispose();
                return new FinnContractMismatch(version);
            }

            return response;
        }
    }

    /// <summary>Same major version as ours (7); anything unparseable is another version.</summary>
    public static bool IsCompatible(string version)
    {
        var dot = version.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && int.TryParse(version.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var major) && major == ContractMajor;
    }

    private static async Task<Error> RefusalAsync(HttpResponseMessage response, CancellationToken token)
    {
        var status = (int)response.StatusCode;
        try
        {
            using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(token), cancellationToken: token);
            var code = json.RootElement.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "UNKNOWN";
            var message = json.RootElement.TryGetProperty("error", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "";
            return new FinnRefused(status, code, $"finn answered {status} {code}: {message}");
        }
        catch (JsonException)
        {
            return new FinnRefused(status, "UNKNOWN", $"finn answered {status} without a contract error body.");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "finn could not be reached on attempt {Attempt} ({Error})")]
    private static partial void LogUnreachable(ILogger logger, int attempt, HttpRequestError error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "finn answered {Status} on attempt {Attempt}")]
    private static partial void LogUpstreamStatus(ILogger logger, int attempt, int status);

    [LoggerMessage(Level = LogLevel.Error, Message = "finn circuit breaker opened for {Seconds} s")]
    private static partial void LogBreakerOpened(ILogger logger, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "finn circuit breaker closed")]
    private static partial void LogBreakerClosed(ILogger logger);
}

/// <summary>
/// An open stream from finn: the response headers, then its events in contract order. Ends normally
/// after stream_end or error; throws <see cref="FinnProtocolException"/> when the stream breaks,
/// is cut, or leaves the contract.
/// </summary>
public sealed class FinnStream : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly CancellationTokenSource _deadline;
    private readonly CancellationTokenSource _linked;
    private readonly SseParser _parser = new();
    private readonly FinnEventSequencer _sequencer = new();
    private readonly Queue<FinnEvent> _pending = new();
    private readonly byte[] _buffer = new byte[8192];
    private Stream? _body;

    internal FinnStream(HttpResponseMessage response, CancellationTokenSource deadline, CancellationTokenSource linked)
    {
        _response = response;
        _deadline = deadline;
        _linked = linked;
        PoolUsed = Header("X-Pool-Used");
        PersonalityId = Header("X-Personality-Id");
        ModelUsed = Header("X-Model-Used");
        TraceId = Header("X-Trace-Id");
    }

    public string PoolUsed { get; }

    public string PersonalityId { get; }

    public string ModelUsed { get; }

    public string TraceId { get; }

    public FinnStarted Start { get; private set; } = null!;

    /// <summary>True once stream_end or error arrived.</summary>
    public bool Finished => _sequencer.Finished;

    /// <summary>True when the next event has already arrived (it was in the same read), so reading it will not wait for finn.</summary>
    public bool HasPending => _pending.Count > 0;

    internal async Task<Result<FinnStarted>> ReadStartAsync(TimeSpan timeout, CancellationToken token, CancellationToken callerToken)
    {
        try
        {
            var first = await NextAsync(token);
            if (first is not FinnStarted started)
            {
                return new FinnUnavailable("finn's stream ended before stream_start.");
            }

            if (!FinnClient.IsCompatible(started.ContractVersion))
            {
                return new FinnContractMismatch(started.ContractVersion);
            }

            // The first byte has come: from here on only the caller's token (disconnect) stops the stream.
            _deadline.CancelAfter(Timeout.InfiniteTimeSpan);
            Start = started;
            return started;
        }
        catch (OperationCanceledException) when (_deadline.IsCancellationRequested && !callerToken.IsCancellationRequested)
        {
            return new FinnTimedOut(timeout);
        }
        catch (FinnProtocolException e)
        {
            return new FinnUnavailable(e.Message);
        }
    }

    /// <summary>The events after stream_start, up to and including stream_end or error.</summary>
    public async IAsyncEnumerable<FinnEvent> ReadEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _linked.Token);
        while (await NextAsync(both.Token) is { } next)
        {
            yield return next;
        }
    }

    private async Task<FinnEvent?> NextAsync(CancellationToken token)
    {
        while (_pending.Count == 0)
        {
            if (_sequencer.Finished)
            {
                return null;
            }

            _body ??= await _response.Content.ReadAsStreamAsync(token);
            int read;
            try
            {
                read = await _body.ReadAsync(_buffer, token);
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                throw new FinnProtocolException("finn's stream broke off: " + e.GetType().Name);
            }

            if (read == 0)
            {
                throw new FinnProtocolException(_parser.HasPartialFrame
                    ? "finn's stream ended inside an event frame."
                    : "finn's stream ended before stream_end or error.");
            }

            foreach (var frame in _parser.Feed(_buffer.AsSpan(0, read)))
            {
                _pending.Enqueue(_sequencer.Next(frame));
            }
        }

        return _pending.Dequeue();
    }

    private string Header(string name) =>
        _response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() ?? "" : "";

    public ValueTask DisposeAsync()
    {
        _response.Dispose();
        _linked.Dispose();
        _deadline.Dispose();
        return ValueTask.CompletedTask;
    }
}
