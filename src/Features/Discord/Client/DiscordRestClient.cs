using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Freeside.Features.Discord.Client;

public sealed record DiscordRequest(HttpMethod Method, string Path, string? JsonBody = null);

/// <summary>
/// Where bucket state lives when several processes share one bot: each must see the others' use of a
/// bucket, or together they overrun it. Without a store, each client counts on its own.
/// </summary>
public interface IRouteBucketStore
{
    /// <summary>Takes one request from the bucket; returns how long to wait first (zero: go now, and the unit is taken).</summary>
    Task<TimeSpan> TryTakeAsync(string bucket, CancellationToken cancellationToken);

    /// <summary>What Discord said about the bucket in its answer (remaining after this request, time until it refills).</summary>
    Task ObserveAsync(string bucket, int remaining, TimeSpan resetAfter, CancellationToken cancellationToken);

    /// <summary>A taken request got no answer (network failure): it no longer counts as on its way.</summary>
    Task AbandonAsync(string bucket, CancellationToken cancellationToken);
}

/// <summary>Discord's answer; <see cref="RateLimitedTimes"/> counts the 429s met (and waited out) on the way.</summary>
public sealed record DiscordResponse(int Status, string Body, int RateLimitedTimes)
{
    public bool IsSuccess => Status is >= 200 and < 300;
}

/// <summary>
/// Discord REST v10. Discord limits each route per bucket and tells us the bucket's state in the
/// X-RateLimit-* headers of every answer; requests of one bucket go one at a time and wait when
/// the last answer said the bucket is empty, so a 429 should never come. If one comes anyway
/// (another client of the same bot, or the global limit), its retry_after is honoured and the
/// request sent again, at most <see cref="MaxRateLimitRetries"/> times.
/// </summary>
public sealed class DiscordRestClient
{
    public const string HttpClientName = "discord-rest";
    public const int MaxRateLimitRetries = 3;
    private static readonly TimeSpan ResetMargin = TimeSpan.FromMilliseconds(10);

    private readonly HttpClient _http;
    private readonly string? _botToken;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, string> _bucketOfRoute = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private long _globalUntilTicks;
    private long _rateLimited;

    private readonly IRouteBucketStore? _store;
    private readonly Func<CancellationToken, Task>? _beforeEachSend;

    /// <param name="store">Shared bucket state (null: this process only).</param>
    /// <param name="beforeEachSend">Awaited before every request that goes on the wire, retries included (a global limit).</param>
    public DiscordRestClient(HttpClient http, string? botToken, TimeProvider time, IRouteBucketStore? store = null, Func<CancellationToken, Task>? beforeEachSend = null)
    {
        _http = http;
        _botToken = botToken;
        _time = time;
        _store = store;
        _beforeEachSend = beforeEachSend;
    }

    /// <summary>Every 429 this client has received.</summary>
    public long RateLimitedTotal => Interlocked.Read(ref _rateLimited);

    public async Task<DiscordResponse> SendAsync(DiscordRequest request, CancellationToken cancellationToken)
    {
        var route = RouteKey(request.Method, request.Path, out var major);
        var limited = 0;
        while (true)
        {
            var bucket = _buckets.GetOrAdd((_bucketOfRoute.TryGetValue(route, out var hash) ? hash : route) + "|" + major, _ => new Bucket());
            // Shared state is keyed by the route, which every process derives alike; the bucket hash is learnt per process.
            var bucketKey = route + "|" + major;
            await bucket.Gate.WaitAsync(cancellationToken);
            try
            {
                await WaitAsync(bucket, cancellationToken);
                if (_store is not null)
                {
                    TimeSpan wait;
                    while ((wait = await _store.TryTakeAsync(bucketKey, cancellationToken)) > TimeSpan.Zero)
                    {
                        await Task.Delay(wait, _time, cancellationToken);
                    }
                }

                if (_beforeEachSend is not null)
                {
                    await _beforeEachSend(cancellationToken);
                }

                using var message = new HttpRequestMessage(request.Method, request.Path.TrimStart('/'));
                if (_botToken is not null && !IsWebhookRoute(request.Path))
                {
                    message.Headers.Authorization = new AuthenticationHeaderValue("Bot", _botToken);
                }

                if (request.JsonBody is not null)
                {
                    message.Content = new StringContent(request.JsonBody, Encoding.UTF8, "application/json");
                }

                HttpResponseMessage response;
                string body;
                try
                {
                    response = await _http.SendAsync(message, cancellationToken);
                    body = await response.Content.ReadAsStringAsync(cancellationToken);
                }
                catch when (_store is not null)
                {
                    await _store.AbandonAsync(bucketKey, CancellationToken.None);
                    throw;
                }

                using var disposeResponse = response;
                var seen = Observe(route, major, bucket, response);
                if (_store is not null)
                {
                    if (seen is { } state)
                    {
                        await _store.ObserveAsync(bucketKey, state.Remaining, state.ResetAfter, CancellationToken.None);
                    }
                    else if (response.StatusCode != HttpStatusCode.TooManyRequests)
                    {
                        await _store.AbandonAsync(bucketKey, CancellationToken.None);
                    }
                }

                if (response.StatusCode != HttpStatusCode.TooManyRequests)
                {
                    return new DiscordResponse((int)response.StatusCode, body, limited);
                }

                Interlocked.Increment(ref _rateLimited);
                limited++;
                var retryAfter = RetryAfter(response, body);
                if (IsGlobal(response, body))
                {
                    Interlocked.Exchange(ref _globalUntilTicks, (_time.GetUtcNow() + retryAfter).UtcTicks);
                }
                else
                {
                    bucket.Remaining = 0;
                    bucket.ResetAt = _time.GetUtcNow() + retryAfter;
                    if (_store is not null && seen is null)
                    {
                        await _store.ObserveAsync(bucketKey, 0, retryAfter, CancellationToken.None);
                    }
                }

                if (limited > MaxRateLimitRetries)
                {
                    return new DiscordResponse(429, body, limited);
                }
            }
            finally
            {
                bucket.Gate.Release();
            }
        }
    }

    /// <summary>
    /// The bucket key of a route: the method and path with ids replaced, except the major
    /// parameters (channel, guild, webhook id and token), which Discord limits separately.
    /// </summary>
    public static string RouteKey(HttpMethod method, string path, out string major)
    {
        var segments = path.Split('?')[0].Trim('/').Split('/');
        var shape = new string[segments.Length];
        var majors = new List<string>();
        for (var i = 0; i < segments.Length; i++)
        {
            var previous = i > 0 ? segments[i - 1] : "";
            if (previous is "channels" or "guilds" or "webhooks" || (i >= 2 && segments[i - 2] == "webhooks"))
            {
                majors.Add(segments[i]);
                shape[i] = ":major";
            }
            else
            {
                shape[i] = segments[i].Length > 0 && segments[i].All(char.IsAsciiDigit) ? ":id" : segments[i];
            }
        }

        major = string.Join('/', majors);
        return method.Method + " /" + string.Join('/', shape);
    }

    private static bool IsWebhookRoute(string path) => path.TrimStart('/').StartsWith("webhooks/", StringComparison.Ordinal)
        || path.TrimStart('/').StartsWith("interactions/", StringComparison.Ordinal);

    private async Task WaitAsync(Bucket bucket, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var global = new DateTimeOffset(Interlocked.Read(ref _globalUntilTicks), TimeSpan.Zero);
        var until = global > now ? global : now;
        if (bucket.Remaining <= 0 && bucket.ResetAt > until)
        {
            until = bucket.ResetAt;
        }

        if (until > now)
        {
            await Task.Delay(until - now, _time, cancellationToken);
        }
    }

    private (int Remaining, TimeSpan ResetAfter)? Observe(string route, string major, Bucket bucket, HttpResponseMessage response)
    {
        if (Header(response, "X-RateLimit-Bucket") is { Length: > 0 } hash && !_bucketOfRoute.ContainsKey(route))
        {
            _bucketOfRoute[route] = hash;
            _buckets.TryAdd(hash + "|" + major, bucket);
        }

        if (Header(response, "X-RateLimit-Remaining") is { } remaining
            && int.TryParse(remaining, NumberStyles.Integer, CultureInfo.InvariantCulture, out var left)
            && Header(response, "X-RateLimit-Reset-After") is { } resetAfter
            && double.TryParse(resetAfter, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            // Reset-After is rounded to the millisecond and this answer took time to arrive: a little margin
            // keeps the next request from landing a hair before Discord's window turns.
            var resetAfterWithMargin = TimeSpan.FromSeconds(seconds) + ResetMargin;
            bucket.Remaining = left;
            bucket.ResetAt = _time.GetUtcNow() + resetAfterWithMargin;
            return (left, resetAfterWithMargin);
        }

        return null;
    }

    private static TimeSpan RetryAfter(HttpResponseMessage response, string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("retry_after", out var value)
                && value.TryGetDouble(out var seconds) && seconds >= 0)
            {
                return TimeSpan.FromSeconds(Math.Min(seconds, 3600));
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy in front of Discord, e.g. Cloudflare): fall back to the header.
        }

        return Header(response, "Retry-After") is { } header && double.TryParse(header, NumberStyles.Float, CultureInfo.InvariantCulture, out var after)
            ? TimeSpan.FromSeconds(Math.Min(after, 3600))
            : TimeSpan.FromSeconds(1);
    }

    private static bool IsGlobal(HttpResponseMessage response, string body)
    {
        if (Header(response, "X-RateLimit-Global") is "true")
        {
            return true;
        }

        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("global", out var global)
                && global.ValueKind == JsonValueKind.True;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    private sealed class Bucket
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public int Remaining { get; set; } = 1;

        public DateTimeOffset ResetAt { get; set; }
    }
}
