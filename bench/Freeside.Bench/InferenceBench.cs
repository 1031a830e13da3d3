using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Identity.Keys;
using Freeside.Features.Identity.S2S;
using Freeside.Features.Inference;
using Freeside.Features.Ledger;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freeside.Bench;

/// <summary>
/// Chat through Freeside against the finn stand-in (src/Freeside.FinnStub) started as a child process,
/// next to the same calls made to the stand-in directly. The Freeside side is the real chat request
/// through the MediatR pipeline: on-chain ownership (a loopback JSON-RPC node answering ownerOf), the four
/// Redis rate limits, the daily cap, reserve, a signed S2S call, streaming through the anti-narration
/// filter, finalize through the ledger batcher, the stored turn. Not over HTTP: Kestrel, routing and the
/// session check are not what is measured. "Direct" signs the same S2S token and reads the same SSE
/// stream to its end, so the difference is what Freeside adds.
/// (a) no token delay, 64 concurrent chats of 24 tokens; (b) 20 ms per token, 256 concurrent chats.
/// </summary>
public static class InferenceBench
{
    private const string Slug = "bench-inference";
    private const long ChainId = 31337;
    private const string Collection = "0x00000000000000000000000000000000000b3c11";
    private const int TokensPerChat = 24;
    private const string Message = "tell me about the signal";

    private sealed record Phase(string Name, int Concurrency, int TokenDelayMs, int Warmup, int Chats);

    private sealed record Run(double ChatsPerSecond, List<double> Latency, long Errors, long Completed)
    {
        /// <summary>Each completed chat's start, first token and end (ms from the run's start).</summary>
        public List<(double Start, double First, double End)> Samples { get; init; } = [];

        /// <summary>Each completed chat's time to its first token (ms).</summary>
        public List<double> FirstToken => [.. Samples.Select(c => c.First)];

        /// <summary>When the first worker found no chat left: from then on fewer than the phase's concurrency ran.</summary>
        public double FullUntil { get; init; }

        /// <summary>
        /// The steady state: from <see cref="Settle"/> after the start (when every worker has begun at the same instant,
        /// the first wave's chats all queue at once) until the first worker ran out of chats. Throughput counts the chats
        /// that ended in it; time to first token is of the chats that started in it.
        /// </summary>
        public (double ChatsPerSecond, List<double> FirstToken) Steady()
        {
            var from = Settle.TotalMilliseconds;
            var to = FullUntil;
            var ended = Samples.Count(c => c.End >= from && c.End <= to);
            return (to > from ? ended / ((to - from) / 1000) : 0, [.. Samples.Where(c => c.Start >= from && c.Start <= to).Select(c => c.First)]);
        }
    }

    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1.5);

    public static async Task<BenchReport> RunAsync(BenchContext context)
    {
        var loadBefore = LoadAverage();
        var kek = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        await using var helper = await HelperHost.StartAsync();
        var report = new BenchReport("inference");

        var phases = new[]
        {
            new Phase("a", 64, 0, 256, 3_000),
            new Phase("b", 256, 20, 256, 256 * 16),
        };
        var results = new Dictionary<string, (Run Freeside, Run Direct)>();
        long chats = 0;
        long warmupErrors = 0;
        (Run Freeside, Run Direct) serial = (new Run(0, [], 0, 0), new Run(0, [], 0, 0));
        foreach (var phase in phases)
        {
            var finnUrl = new Uri($"http://127.0.0.1:{FreePort()}");
            await using var services = Services(context, kek, helper.RpcUrl, finnUrl);
            helper.Services = services;
            await services.GetServices<IHostedService>().OfType<SigningKeyBootstrap>().Single().StartAsync(CancellationToken.None);
            await using var stub = await FinnStubProcess.StartHealthyAsync(finnUrl, helper.JwksUrl, TokensPerChat, phase.TokenDelayMs);
            if (phase.Name == "a")
            {
                await SeedAsync(services, context.OwnerConnectionString);
            }

            // Warm both paths (JIT, connection pools, ownership cache, statement plans), then measure each.
            warmupErrors += (await FreesideAsync(services, phase.Concurrency, phase.Warmup)).Errors;
            warmupErrors += (await DirectAsync(services, stub.Url, phase.Concurrency, phase.Warmup)).Errors;
            await context.AnalyzeAsync();
            if (phase.Name == "a")
            {
                // One at a time: what a single chat costs Freeside when nothing else competes inside the process.
                serial = (await FreesideAsync(services, 1, 200), await DirectAsync(services, stub.Url, 1, 200));
                chats += 200;
            }

            var direct = await DirectAsync(services, stub.Url, phase.Concurrency, phase.Chats);
            var freeside = await FreesideAsync(services, phase.Concurrency, phase.Chats);
            chats += phase.Warmup + phase.Chats;
            results[phase.Name] = (freeside, direct);
        }

        var (a, aDirect) = results["a"];
        var (b, bDirect) = results["b"];
        var (bSteady, bDirectSteady) = (b.Steady(), bDirect.Steady());
        var down = await FinnDownAsync(context, kek, helper);
        var settled = await SettledLedger.ReadAsync(context.OwnerConnectionString);
        var auditOk = false;
        await using (var auditServices = Services(context, kek, helper.RpcUrl, new Uri("http://127.0.0.1:1")))
        {
            await using var scope = auditServices.CreateAsyncScope();
            var audit = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new AuditConservation.Command(null));
            report.Parameters["audit"] = audit.IsSuccess ? audit.Value.Status : audit.Error!.Type;
            auditOk = audit.IsSuccess && audit.Value.Status == "ok";
        }

        report.Parameters["load_average_before"] = loadBefore;
        report.Parameters["load_average_after"] = LoadAverage();
        report.Parameters["phase_a"] = $"token delay 0 ms, {phases[0].Concurrency} concurrent, {phases[0].Chats} chats of {TokensPerChat} tokens each way after {phases[0].Warmup} warm-up";
        report.Parameters["phase_b"] = $"token delay 20 ms, {phases[1].Concurrency} concurrent, {phases[1].Chats} chats of {TokensPerChat} tokens each way after {phases[1].Warmup} warm-up";
        report.Parameters["phase_b_steady_state"] = $"b_* figures: from {Settle.TotalSeconds} s after the start (all {phases[1].Concurrency} workers begin at once) until the first worker ran out of chats "
            + $"(Freeside {bSteady.FirstToken.Count} chats in {(b.FullUntil - Settle.TotalMilliseconds) / 1000:F1} s, direct {bDirectSteady.FirstToken.Count} in {(bDirect.FullUntil - Settle.TotalMilliseconds) / 1000:F1} s); "
            + "b_whole_run_* are every chat of the run, the first wave's simultaneous start included";
        report.Parameters["path"] = "Chat.Command through the MediatR pipeline (ownership over JSON-RPC, 4 Redis rate limits, daily cap, reserve, S2S JWT, SSE, anti-narration, finalize, stored turn); direct = signed S2S call read to stream_end";
        report.Parameters["stand_in"] = "src/Freeside.FinnStub as a child process (dotnet Freeside.FinnStub.dll), one per phase";
        report.Parameters["chats_through_freeside"] = chats;
        report.Parameters["finn_down"] = $"nothing listens on LOA_FINN_URL; chats until the breaker opens, then {FinnDownChats} chats one at a time: each must answer finn-unavailable and release its hold";
        report.Parameters["serial"] = "200 chats one at a time each way (phase a's stand-in), after the warm-up";
        report.Parameters["first_error"] = FirstError ?? "none";
        report.Add("a_chats_per_s", a.ChatsPerSecond, 500)
            .Add("a_direct_chats_per_s", aDirect.ChatsPerSecond)
            .Add("a_p50_ms", Percentiles.Of(a.Latency, 50))
            .Add("a_p99_ms", Percentiles.Of(a.Latency, 99))
            .Add("a_direct_p50_ms", Percentiles.Of(aDirect.Latency, 50))
            .Add("a_direct_p99_ms", Percentiles.Of(aDirect.Latency, 99))
            .Add("a_added_p50_ms", Percentiles.Of(a.Latency, 50) - Percentiles.Of(aDirect.Latency, 50))
            .Add("a_added_p99_ms", Percentiles.Of(a.Latency, 99) - Percentiles.Of(aDirect.Latency, 99))
            .Add("serial_p50_ms", Percentiles.Of(serial.Freeside.Latency, 50))
            .Add("serial_direct_p50_ms", Percentiles.Of(serial.Direct.Latency, 50))
            .Add("serial_added_p50_ms", Percentiles.Of(serial.Freeside.Latency, 50) - Percentiles.Of(serial.Direct.Latency, 50))
            .Add("a_errors", a.Errors + aDirect.Errors, 0, higherIsBetter: false)
            .Add("b_chats_per_s", bSteady.ChatsPerSecond)
            .Add("b_direct_chats_per_s", bDirectSteady.ChatsPerSecond)
            .Add("b_throughput_ratio", bSteady.ChatsPerSecond / bDirectSteady.ChatsPerSecond, 0.9)
            .Add("b_ttft_p99_ms", Percentiles.Of(bSteady.FirstToken, 99))
            .Add("b_direct_ttft_p99_ms", Percentiles.Of(bDirectSteady.FirstToken, 99))
            .Add("b_added_ttft_p50_ms", Percentiles.Of(bSteady.FirstToken, 50) - Percentiles.Of(bDirectSteady.FirstToken, 50))
            .Add("b_added_ttft_p99_ms", Percentiles.Of(bSteady.FirstToken, 99) - Percentiles.Of(bDirectSteady.FirstToken, 99), 20, higherIsBetter: false)
            .Add("b_whole_run_throughput_ratio", b.ChatsPerSecond / bDirect.ChatsPerSecond)
            .Add("b_whole_run_added_ttft_p99_ms", Percentiles.Of(b.FirstToken, 99) - Percentiles.Of(bDirect.FirstToken, 99))
            .Add("b_errors", b.Errors + bDirect.Errors, 0, higherIsBetter: false)
            .Add("warmup_errors", warmupErrors + serial.Freeside.Errors + serial.Direct.Errors, 0, higherIsBetter: false)
            .Add("finn_down_p50_ms", Percentiles.Of(down.Latency, 50))
            .Add("finn_down_p99_ms", Percentiles.Of(down.Latency, 99), 100, higherIsBetter: false)
            .Add("finn_down_answered_503", down.Unavailable == FinnDownChats ? 1 : 0, 1)
            .Add("every_chat_reserved_and_finalized", settled.Finalized == chats && settled.Reserved == chats + down.Chats && settled.Pending == 0 ? 1 : 0, 1)
            .Add("finn_down_holds_released", settled.Released == down.Chats ? 1 : 0, 1)
            .Add("usage_equals_charged", settled.UsageMicro == settled.ChargedMicro ? 1 : 0, 1)
            .Add("audit_ok", auditOk ? 1 : 0, 1);
        return report;
    }

    /// <summary>Chats through Freeside; latency to the end event and to the first token, per chat.</summary>
    private static async Task<Run> FreesideAsync(ServiceProvider services, int concurrency, int chats)
    {
        var remaining = chats;
        var latency = new ConcurrentBag<double>();
        var samples = new ConcurrentBag<(double, double, double)>();
        long fullUntil = 0;
        long errors = 0;
        long completed = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var token = (worker + 1).ToString(CultureInfo.InvariantCulture);
            var wallet = Holder(worker + 1);
            while (Interlocked.Decrement(ref remaining) >= 0 || Ran(ref fullUntil, clock))
            {
                var startedAt = clock.Elapsed.TotalMilliseconds;
                var sink = new TimingSink();
                await using var scope = services.CreateAsyncScope();
                string? failure;
                try
                {
                    var result = await scope.ServiceProvider.GetRequiredService<IMediator>()
                        .Send(new Chat.Command(Slug, token, wallet, Message, null, ChatSource.Api, sink));
                    failure = !result.IsSuccess ? result.Error!.Type : !result.Value.Completed || sink.Tokens == 0 ? "incomplete: " + result.Value.BillingMethod : null;
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
                {
                    // An overloaded machine can run out of pooled connections; count it, keep going, and name it in the report.
                    failure = e.GetType().Name + ": " + e.Message;
                }

                latency.Add(sink.Elapsed.TotalMilliseconds);
                if (failure is null)
                {
                    samples.Add((startedAt, sink.FirstToken.TotalMilliseconds, startedAt + sink.Elapsed.TotalMilliseconds));
                    Interlocked.Increment(ref completed);
                }
                else
                {
                    Interlocked.Increment(ref errors);
                    FirstError ??= failure;
                }
            }
        })));
        return new Run(chats / clock.Elapsed.TotalSeconds, [.. latency], errors, completed)
        {
            Samples = [.. samples], FullUntil = TimeSpan.FromTicks(Interlocked.Read(ref fullUntil)).TotalMilliseconds,
        };
    }

    /// <summary>Notes when the first worker found the queue empty; always false, so the worker stops.</summary>
    private static bool Ran(ref long fullUntil, Stopwatch clock)
    {
        Interlocked.CompareExchange(ref fullUntil, clock.Elapsed.Ticks, 0);
        return false;
    }

    private static string? FirstError;

    /// <summary>The same calls straight to the stand-in: a freshly signed S2S token each, the SSE read to stream_end.</summary>
    private static async Task<Run> DirectAsync(ServiceProvider services, Uri finn, int concurrency, int chats)
    {
        var signer = services.GetRequiredService<S2SJwtSigner>();
        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { BaseAddress = finn };
        var body = JsonSerializer.SerializeToUtf8Bytes(new { messages = new[] { new { role = "user", content = Message } }, max_tokens = Chat.MaxTokens });
        var remaining = chats;
        var latency = new ConcurrentBag<double>();
        var samples = new ConcurrentBag<(double, double, double)>();
        long fullUntil = 0;
        long errors = 0;
        long completed = 0;
        var tenant = Guid.NewGuid();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var nft = S2SJwtSigner.NftId(ChainId, Collection, (worker + 1).ToString(CultureInfo.InvariantCulture));
            var subject = Holder(worker + 1).ToChecksumString();
            while (Interlocked.Decrement(ref remaining) >= 0 || Ran(ref fullUntil, clock))
            {
                var startedAt = clock.Elapsed.TotalMilliseconds;
                var one = Stopwatch.StartNew();
                double? first = null;
                var ended = false;
                try
                {
                    var signed = await signer.SignAsync(new S2SClaims(subject, tenant, "pro", ["cheap", "fast-code", "reviewer"], Guid.NewGuid(), nft), body, CancellationToken.None);
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/agents/stream") { Content = new ByteArrayContent(body) };
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", signed.Value.Token);
                    request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
                    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                    response.EnsureSuccessStatusCode();
                    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                    while (await reader.ReadLineAsync() is { } line)
                    {
                        if (line == "event: chunk")
                        {
                            first ??= one.Elapsed.TotalMilliseconds;
                        }
                        else if (line == "event: stream_end")
                        {
                            ended = true;
                        }
                    }
                }
                catch (HttpRequestException)
                {
                }

                latency.Add(one.Elapsed.TotalMilliseconds);
                if (ended && first is { } f)
                {
                    samples.Add((startedAt, f, startedAt + one.Elapsed.TotalMilliseconds));
                    Interlocked.Increment(ref completed);
                }
                else
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })));
        return new Run(chats / clock.Elapsed.TotalSeconds, [.. latency], errors, completed)
        {
            Samples = [.. samples], FullUntil = TimeSpan.FromTicks(Interlocked.Read(ref fullUntil)).TotalMilliseconds,
        };
    }

    /// <summary>The wallet that holds token <paramref name="token"/> on the bench's chain.</summary>
    private static EthereumAddress Holder(int token) =>
        EthereumAddress.TryParse("0xb0" + token.ToString("x38", CultureInfo.InvariantCulture), out var address) ? address : throw new InvalidOperationException();

    private static async Task SeedAsync(ServiceProvider services, string ownerConnectionString)
    {
        await using (var connection = new NpgsqlConnection(ownerConnectionString))
        {
            await connection.OpenAsync();
            await using var insert = new NpgsqlCommand("""
                INSERT INTO communities (id, slug, name, chain_id, collection_address, default_access_level)
                VALUES (gen_random_uuid(), @slug, 'Inference bench', @chain, @collection, 'pro')
                """, connection);
            insert.Parameters.AddWithValue("slug", Slug);
            insert.Parameters.AddWithValue("chain", ChainId);
            insert.Parameters.AddWithValue("collection", Collection);
            await insert.ExecuteNonQueryAsync();
        }

        await using var scope = services.CreateAsyncScope();
        var grant = await scope.ServiceProvider.GetRequiredService<IMediator>()
            .Send(new GrantCredits.Command(Slug, 1_000_000_000_000, "bench funding", "bench-inference"));
        if (!grant.IsSuccess)
        {
            throw new InvalidOperationException("Funding the bench community failed: " + grant.Error!.Detail);
        }
    }

    private const int FinnDownChats = 100;

    private sealed record Down(List<double> Latency, int Unavailable, int Chats);

    /// <summary>finn is down: once the breaker has opened, how fast a chat is answered 503 (the issue: under 100 ms).</summary>
    private static async Task<Down> FinnDownAsync(BenchContext context, string kek, HelperHost helper)
    {
        await using var services = Services(context, kek, helper.RpcUrl, new Uri($"http://127.0.0.1:{FreePort()}"), breakerMinimumCalls: 5);
        helper.Services = services;
        await services.GetServices<IHostedService>().OfType<SigningKeyBootstrap>().Single().StartAsync(CancellationToken.None);
        var finn = services.GetRequiredService<Freeside.Features.Inference.Finn.FinnClient>();
        var chats = 0;
        async Task<(double Ms, bool Unavailable)> ChatOnceAsync()
        {
            chats++;
            var clock = Stopwatch.StartNew();
            await using var scope = services.CreateAsyncScope();
            var result = await scope.ServiceProvider.GetRequiredService<IMediator>()
                .Send(new Chat.Command(Slug, "1", Holder(1), Message, null, ChatSource.Api, new TimingSink()));
            return (clock.Elapsed.TotalMilliseconds, result.Error is FinnUnavailable);
        }

        while (finn.BreakerState != Polly.CircuitBreaker.CircuitState.Open && chats < 20)
        {
            await ChatOnceAsync();
        }

        var latency = new List<double>();
        var unavailable = 0;
        for (var i = 0; i < FinnDownChats; i++)
        {
            var (ms, is503) = await ChatOnceAsync();
            latency.Add(ms);
            unavailable += is503 ? 1 : 0;
        }

        return new Down(latency, unavailable, chats);
    }

    private static ServiceProvider Services(BenchContext context, string kek, Uri rpc, Uri finn, int breakerMinimumCalls = 10_000)
    {
        const string unlimited = "1000000/60s";
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            // 256 chats at once each hold a pooled connection for a moment; on a loaded machine the default 15 s wait for one ran out.
            ["DATABASE_URL"] = new NpgsqlConnectionStringBuilder(context.AppConnectionString) { MaxPoolSize = 300, Timeout = 60 }.ConnectionString,
            ["DATABASE_MIGRATION_URL"] = context.OwnerConnectionString,
            ["REDIS_URL"] = Environment.GetEnvironmentVariable("REDIS_URL"),
            ["FREESIDE_ADMIN_TOKEN"] = "bench-admin-token-0123456789abcdef",
            ["FREESIDE_KEY_ENCRYPTION_KEY"] = kek,
            ["SIWE_DOMAINS"] = "app.example.com",
            ["FREESIDE_JOBS_ENABLED"] = "false",
            ["CHAIN_RPC_URLS"] = $"{ChainId}={rpc}",
            ["LOA_FINN_URL"] = finn.ToString().TrimEnd('/'),
            ["FINN_BREAKER_MINIMUM_CALLS"] = breakerMinimumCalls.ToString(CultureInfo.InvariantCulture),
            ["FINN_RETRY_BACKOFF_MS"] = "10",
            // The limits stay in the path (four Redis round trips a chat), raised out of the way of one community's load.
            ["FREESIDE_RATE_LIMIT_CHAT_BURST_PRO"] = unlimited + ",burst=1000000",
            ["FREESIDE_RATE_LIMIT_CHAT_USER_PRO"] = unlimited,
            ["FREESIDE_RATE_LIMIT_CHAT_CHANNEL_PRO"] = unlimited,
            ["FREESIDE_RATE_LIMIT_CHAT_COMMUNITY_PRO"] = unlimited,
        }).Build();
        var loaded = FreesideSettings.Load(configuration, isDevelopment: false);
        var settings = loaded.Settings ?? throw new InvalidOperationException(string.Join("; ", loaded.Errors));
        var services = new ServiceCollection();
        services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
        // Hosted services are resolved (for the signing-key bootstrap) outside a host: give them the host's lifetime.
        services.AddSingleton<IHostApplicationLifetime, Microsoft.Extensions.Hosting.Internal.ApplicationLifetime>();
        services.AddFreesideFeatures(settings, configuration);
        return services.BuildServiceProvider();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    /// <summary>Times one chat: from the request to the first token and to the end.</summary>
    private sealed class TimingSink : IChatSink
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public TimeSpan FirstToken { get; private set; }

        public TimeSpan Elapsed => _clock.Elapsed;

        public int Tokens { get; private set; }

        public Task StartAsync(Chat.Started started, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task TokenAsync(string text, CancellationToken cancellationToken)
        {
            if (Tokens++ == 0)
            {
                FirstToken = _clock.Elapsed;
            }

            return Task.CompletedTask;
        }

        public Task EndAsync(Chat.Ended ended, CancellationToken cancellationToken)
        {
            _clock.Stop();
            return Task.CompletedTask;
        }

        public Task ErrorAsync(string code, string message, CancellationToken cancellationToken)
        {
            _clock.Stop();
            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// Loopback helpers: an Ethereum JSON-RPC node that answers ownerOf(token) with <see cref="Holder"/>,
    /// and Freeside's JWKS for the stand-in (served from the phase's services).
    /// </summary>
    private sealed class HelperHost : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private HelperHost(WebApplication app)
        {
            _app = app;
            var url = app.Urls.First();
            RpcUrl = new Uri(url + "/rpc");
            JwksUrl = new Uri(url + "/.well-known/jwks.json");
        }

        public Uri RpcUrl { get; }

        public Uri JwksUrl { get; }

        public ServiceProvider? Services { get; set; }

        public static async Task<HelperHost> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            HelperHost? host = null;
            app.MapPost("/rpc", async (HttpRequest request) =>
            {
                using var json = await JsonDocument.ParseAsync(request.Body);
                var id = json.RootElement.GetProperty("id").Clone();
                var data = json.RootElement.GetProperty("params")[0].GetProperty("data").GetString()!;
                // ownerOf(uint256) = 0x6352211e; the token id is the last 32 bytes.
                if (!data.StartsWith("0x6352211e", StringComparison.Ordinal))
                {
                    return Results.Json(new { jsonrpc = "2.0", id, error = new { code = 3, message = "execution reverted" } });
                }

                var token = int.Parse(data[^8..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                return Results.Json(new { jsonrpc = "2.0", id, result = "0x" + new string('0', 24) + Holder(token).ToChecksumString()[2..].ToLowerInvariant() });
            });
            app.MapGet("/.well-known/jwks.json", async () =>
            {
                await using var scope = host!.Services!.CreateAsyncScope();
                var jwks = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new GetJwks.Query(null));
                return Results.Bytes(jwks.Value.Document!, "application/json");
            });
            await app.StartAsync();
            host = new HelperHost(app);
            return host;
        }

        public ValueTask DisposeAsync() => _app.DisposeAsync();
    }
}
