using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freeside.Bench;

/// <summary>
/// Issue 12, both halves in one run of one Freeside process (started as its own process, as shipped, so its RSS is its own):
/// (1) 1,000 idle chat sockets of 334 wallets (three each, the per-wallet limit): the RSS of the whole process at start,
/// after the sign-ins and with every socket held; (2) while those sockets stay open, 200 holders chat at once against
/// the finn stand-in (24 tokens, 20 ms apart), in rounds alternating between the web chat socket and the HTTP (SSE) chat
/// endpoint it mirrors; time to first token per chat, p50/p99 each way, and the socket's added p99.
/// Every chat must be reserved and finalized (counted in the ledger afterwards).
/// </summary>
public static class WebSocketBench
{
    private const string Slug = "bench-ws";
    private const long ChainId = 31337;
    private const string Collection = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
    private const int IdleSockets = 1_000;
    private const int Streams = 200;
    private const int TokensPerChat = 24;
    private const int TokenDelayMs = 20;
    private const string Message = "tell me about the signal";

    public static async Task<BenchReport> RunAsync(BenchContext context)
    {
        var rounds = int.TryParse(Environment.GetEnvironmentVariable("FREESIDE_BENCH_WS_ROUNDS"), CultureInfo.InvariantCulture, out var r) ? r : 5;
        var loadBefore = LoadAverage();
        var holders = new ConcurrentDictionary<int, EthereumAddress>();
        await using var chain = await ChainHost.StartAsync(holders);
        var port = FreePort();
        var baseUrl = new Uri($"http://127.0.0.1:{port}");
        var finnUrl = new Uri($"http://127.0.0.1:{FreePort()}");
        // The stand-in's health needs Freeside's JWKS, so it is started first and waited for after Freeside.
        await using var stub = FinnStubProcess.Start(finnUrl, new Uri(baseUrl, "/.well-known/jwks.json"), TokensPerChat, TokenDelayMs);
        var admin = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var info = new ProcessStartInfo("dotnet", [WebDll()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        // More pooled connections than chats at once, so 200 chats' short reads do not queue for one (the budget guard admits at
        // most half the pool at once, so a smaller pool is slower, not stuck).
        info.Environment["DATABASE_URL"] = new NpgsqlConnectionStringBuilder(context.AppConnectionString) { MaxPoolSize = 300, Timeout = 60 }.ConnectionString;
        info.Environment["DATABASE_MIGRATION_URL"] = context.OwnerConnectionString;
        info.Environment["FREESIDE_ADMIN_TOKEN"] = admin;
        info.Environment["FREESIDE_URLS"] = baseUrl.ToString().TrimEnd('/');
        var managementUrl = new Uri($"http://127.0.0.1:{FreePort()}");
        info.Environment["FREESIDE_MANAGEMENT_URLS"] = managementUrl.ToString().TrimEnd('/');
        info.Environment["FREESIDE_JOBS_ENABLED"] = "false";
        info.Environment["CHAIN_RPC_URLS"] = $"{ChainId}={chain.RpcUrl}";
        info.Environment["LOA_FINN_URL"] = finnUrl.ToString().TrimEnd('/');
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var policy in RateLimitPolicies.Defaults)
        {
            info.Environment[policy.SettingName] = policy.Algorithm == RateLimitAlgorithm.TokenBucket ? "1000000/1s,burst=1000000" : "1000000/1s";
        }

        // Comparison runs only (named in the report): the figure that counts is the host's own configuration.
        var gcOverrides = Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("DOTNET_gc", StringComparison.OrdinalIgnoreCase)
            || k.StartsWith("DOTNET_GC", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();

        using var process = Process.Start(info)!;
        var errorOutput = new ConcurrentQueue<string>();
        var log = Environment.GetEnvironmentVariable("FREESIDE_BENCH_WS_LOG") is { Length: > 0 } logPath ? new StreamWriter(logPath) { AutoFlush = true } : null;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null && log is not null)
            {
                lock (log)
                {
                    log.WriteLine(e.Data);
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null && errorOutput.Count < 20)
            {
                errorOutput.Enqueue(e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var idle = new List<ClientWebSocket>();
        var chatters = new List<Chatter>();
        try
        {
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1_000 }) { BaseAddress = baseUrl, Timeout = TimeSpan.FromMinutes(2) };
            await WaitHealthyAsync(http, process, errorOutput);
            await stub.WaitHealthyAsync();
            await Task.Delay(TimeSpan.FromSeconds(5));
            var startedRss = Memory.Of(process.Id);

            using (var adminRequest = new HttpRequestMessage(HttpMethod.Post, "/api/v1/admin/communities"))
            {
                adminRequest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", admin);
                adminRequest.Content = JsonContent.Create(new { slug = Slug, name = "bench", chain_id = ChainId, collection_address = Collection, default_access_level = "free" });
                (await http.SendAsync(adminRequest)).EnsureSuccessStatusCode();
            }

            using (var grant = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/admin/communities/{Slug}/grants"))
            {
                grant.Headers.Authorization = new AuthenticationHeaderValue("Bearer", admin);
                grant.Content = JsonContent.Create(new { amount_micro = 1_000_000_000_000L, reason = "bench funding", idempotency_key = "bench-ws" });
                (await http.SendAsync(grant)).EnsureSuccessStatusCode();
            }

            // Sign-ins first, so the figure before the sockets already includes what sign-in traffic left on the heap.
            var sessions = new List<string>();
            for (var wallet = 0; wallet < (IdleSockets + 2) / 3; wallet++)
            {
                sessions.Add((await SignInAsync(http, baseUrl)).Session);
            }

            await Task.Delay(TimeSpan.FromSeconds(5));
            var signedInRss = Memory.Of(process.Id);
            var opened = Stopwatch.StartNew();
            foreach (var session in sessions)
            {
                for (var seat = 0; seat < 3 && idle.Count < IdleSockets; seat++)
                {
                    idle.Add(await OpenAsync(port, 1, session));
                }
            }

            var openSeconds = opened.Elapsed.TotalSeconds;
            await Task.Delay(TimeSpan.FromSeconds(5));
            var heldAt5s = Memory.Of(process.Id);

            // "Held" is a while, not an instant: the figure that counts is the highest RSS seen over 30 s of holding
            // (sampled each second), so a snapshot taken just after a collection cannot flatter it.
            var heldRss = heldAt5s;
            for (var second = 0; second < 30; second++)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                var sample = Memory.Of(process.Id);
                heldRss = sample.Rss > heldRss.Rss ? sample : heldRss;
            }

            var gcHeld = await GcFiguresAsync(managementUrl);

            // The memory figures, the same in both modes; only the full run holds the RSS to its target.
            BenchReport MemoryFigures(BenchReport into, double? targetMb) => into
                .Add("process_rss_mb_with_1000_idle_sockets", Mb(heldRss.Rss), targetMb, higherIsBetter: false)
                .Add("process_rss_mb_5s_after_opening", Mb(heldAt5s.Rss))
                .Add("process_rss_mb_at_start", Mb(startedRss.Rss))
                .Add("process_rss_mb_after_sign_ins_before_sockets", Mb(signedInRss.Rss))
                .Add("rss_kb_per_socket", (heldRss.Rss - signedInRss.Rss) / 1024.0 / IdleSockets)
                .Add("anon_mb_at_start", Mb(startedRss.Anonymous))
                .Add("anon_mb_after_sign_ins", Mb(signedInRss.Anonymous))
                .Add("anon_mb_with_1000_idle_sockets", Mb(heldRss.Anonymous))
                .Add("file_mb_at_start", Mb(startedRss.File))
                .Add("file_mb_with_1000_idle_sockets", Mb(heldRss.File))
                .Add("shmem_mb_at_start", Mb(startedRss.Shmem))
                .Add("shmem_mb_with_1000_idle_sockets", Mb(heldRss.Shmem));

            if (rounds == 0)
            {
                var idleReport = new BenchReport("ws-idle");
                idleReport.Parameters["runtime_metrics_while_held"] = gcHeld;
                return MemoryFigures(idleReport, null);
            }

            // The 200 holders: token i is held by wallet i (the loopback chain answers ownerOf), each signed in with one chat socket.
            for (var token = 1; token <= Streams; token++)
            {
                var (session, address) = await SignInAsync(http, baseUrl);
                holders[token] = address;
                chatters.Add(new Chatter(token, session, await OpenAsync(port, token, session)));
            }

            // Warm-up (JIT, pools, ownership cache): one round each way, not counted.
            var warmup = await RoundAsync(http, chatters, viaSocket: true);
            warmup.Add(await RoundAsync(http, chatters, viaSocket: false));
            var socketTtft = new Samples();
            var httpTtft = new Samples();
            var peakRss = 0L;
            using (var sampling = new CancellationTokenSource())
            {
                var sampler = Task.Run(async () =>
                {
                    while (!sampling.IsCancellationRequested)
                    {
                        peakRss = Math.Max(peakRss, Memory.Of(process.Id).Rss);
                        await Task.Delay(200, CancellationToken.None);
                    }
                });

                // Alternating which path goes first, so neither always runs on the warmer (or busier) machine.
                for (var round = 0; round < rounds; round++)
                {
                    var socketFirst = round % 2 == 0;
                    (socketFirst ? socketTtft : httpTtft).Add(await RoundAsync(http, chatters, viaSocket: socketFirst));
                    (socketFirst ? httpTtft : socketTtft).Add(await RoundAsync(http, chatters, viaSocket: !socketFirst));
                }

                await sampling.CancelAsync();
                await sampler;
            }

            var idleStillOpen = idle.Count(s => s.State == WebSocketState.Open);
            var settled = await SettledLedger.ReadAsync(context.OwnerConnectionString);
            var chats = (long)(rounds * 2 + 2) * Streams;
            var loadAfter = LoadAverage();

            var report = new BenchReport("ws");
            report.Parameters["load_average_before"] = loadBefore;
            report.Parameters["load_average_after"] = loadAfter;
            report.Parameters["host"] = "Freeside.Web as its own process (Development; its runtimeconfig as built: workstation GC, 4 MB gen0 budget, TieredPGO off), Redis, finn stand-in as a child process";
            report.Parameters["gc_overrides"] = gcOverrides.Count == 0 ? "none (as shipped)" : "COMPARISON RUN: " + string.Join(", ", gcOverrides.Select(k => k + "=" + Environment.GetEnvironmentVariable(k)));
            report.Parameters["idle"] = $"{IdleSockets} sockets of {sessions.Count} wallets (3 each); RSS from /proc/PID/status 5 s after each step";
            report.Parameters["streaming"] = $"{Streams} holders at once, {rounds} rounds each way alternating (socket first in even rounds) after one warm-up round each way; "
                + $"finn stand-in {TokensPerChat} tokens {TokenDelayMs} ms apart; TTFT = client sends the chat → client reads the first token event; the {IdleSockets} idle sockets stay open";
            report.Parameters["http_path"] = "POST /api/v1/agents/{slug}/{tokenId}/chat (SSE), Bearer session, pooled keep-alive connections";
            report.Parameters["socket_path"] = "GET /chat/{slug}/{tokenId}/ws, session cookie, one socket per holder kept across rounds";
            report.Parameters["chats"] = chats;
            report.Parameters["runtime_metrics_while_held"] = gcHeld;
            report.Parameters["first_error"] = FirstError ?? "none";
            report.Parameters["errors_by_kind"] = ErrorKinds.ToDictionary(e => e.Key, e => e.Value);
            report.Parameters["ledger"] = $"reservations {settled.Reserved}, finalized {settled.Finalized}, pending {settled.Pending}, usage events {settled.UsageEvents}, web messages {settled.WebMessages}";
            return MemoryFigures(report.Add("idle_sockets_open", idleStillOpen, IdleSockets), 200)
                .Add("open_1000_sockets_seconds", openSeconds)
                .Add("process_rss_mb_peak_while_streaming", Mb(peakRss))
                .Add("http_ttft_p50_ms", Percentiles.Of(httpTtft.Values, 50))
                .Add("http_ttft_p99_ms", Percentiles.Of(httpTtft.Values, 99))
                .Add("socket_ttft_p50_ms", Percentiles.Of(socketTtft.Values, 50))
                .Add("socket_ttft_p99_ms", Percentiles.Of(socketTtft.Values, 99))
                .Add("socket_added_ttft_p50_ms", Percentiles.Of(socketTtft.Values, 50) - Percentiles.Of(httpTtft.Values, 50))
                .Add("socket_added_ttft_p99_ms", Percentiles.Of(socketTtft.Values, 99) - Percentiles.Of(httpTtft.Values, 99), 20, higherIsBetter: false)
                .Add("streaming_errors", socketTtft.Errors + httpTtft.Errors + warmup.Errors, 0, higherIsBetter: false)
                .Add("every_chat_reserved_and_finalized",
                    settled.Reserved == chats && settled.Finalized == chats && settled.Pending == 0 && settled.UsageEvents == chats ? 1 : 0, 1)
                .Add("usage_equals_charged", settled.UsageMicro == settled.ChargedMicro ? 1 : 0, 1);
        }
        finally
        {
            foreach (var socket in idle.Concat(chatters.Select(c => c.Socket)))
            {
                socket.Abort();
                socket.Dispose();
            }

            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
        }
    }

    private static string? FirstError;

    private static readonly ConcurrentDictionary<string, int> ErrorKinds = new(StringComparer.Ordinal);

    private sealed record Chatter(int Token, string Session, ClientWebSocket Socket);

    private sealed class Samples
    {
        public List<double> Values { get; } = [];

        public long Errors { get; private set; }

        public void Add(Samples other)
        {
            Values.AddRange(other.Values);
            Errors += other.Errors;
        }

        public void Record(double? ttft, string? failure)
        {
            lock (Values)
            {
                if (failure is null && ttft is { } t)
                {
                    Values.Add(t);
                }
                else
                {
                    Errors++;
                    FirstError ??= failure ?? "no token";
                    var kind = (failure ?? "no token")[..Math.Min(60, (failure ?? "no token").Length)];
                    ErrorKinds.AddOrUpdate(kind, 1, (_, n) => n + 1);
                }
            }
        }
    }

    /// <summary>Every holder chats once at the same moment, through the socket or over HTTP; time to the first token each.</summary>
    private static async Task<Samples> RoundAsync(HttpClient http, List<Chatter> chatters, bool viaSocket)
    {
        var samples = new Samples();
        using var go = new SemaphoreSlim(0, chatters.Count);
        var chats = chatters.Select(c => Task.Run(async () =>
        {
            await go.WaitAsync();
            try
            {
                var (ttft, failure) = viaSocket ? await SocketChatAsync(c) : await HttpChatAsync(http, c);
                samples.Record(ttft, failure);
            }
            catch (Exception e) when (e is HttpRequestException or WebSocketException or IOException or OperationCanceledException)
            {
                samples.Record(null, e.GetType().Name + ": " + e.Message);
            }
        })).ToList();
        go.Release(chatters.Count);
        await Task.WhenAll(chats);
        return samples;
    }

    private static async Task<(double? Ttft, string? Failure)> SocketChatAsync(Chatter chatter)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(new { type = "chat", message = Message });
        var clock = Stopwatch.StartNew();
        await chatter.Socket.SendAsync(payload, WebSocketMessageType.Text, true, CancellationToken.None);
        double? first = null;
        var buffer = new byte[8192];
        while (true)
        {
            var text = await ReceiveAsync(chatter.Socket, buffer);
            if (text is null)
            {
                return (null, "socket closed: " + chatter.Socket.CloseStatus + " " + chatter.Socket.CloseStatusDescription);
            }

            if (text.StartsWith("{\"type\":\"token\"", StringComparison.Ordinal))
            {
                first ??= clock.Elapsed.TotalMilliseconds;
            }
            else if (text.StartsWith("{\"type\":\"end\"", StringComparison.Ordinal))
            {
                return (first, first is null ? "no token before end" : null);
            }
            else if (text.StartsWith("{\"type\":\"error\"", StringComparison.Ordinal))
            {
                return (null, "socket: " + text);
            }
        }
    }

    private static async Task<(double? Ttft, string? Failure)> HttpChatAsync(HttpClient http, Chatter chatter)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/agents/{Slug}/{chatter.Token}/chat")
        {
            Content = JsonContent.Create(new { message = Message }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", chatter.Session);
        var clock = Stopwatch.StartNew();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (!response.IsSuccessStatusCode)
        {
            return (null, $"http {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double? first = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line == "event: token")
            {
                first ??= clock.Elapsed.TotalMilliseconds;
            }
            else if (line == "event: end")
            {
                return (first, first is null ? "no token before end" : null);
            }
            else if (line == "event: error")
            {
                return (null, "http: " + await reader.ReadLineAsync());
            }
        }

        return (null, "http stream ended without end");
    }

    private static async Task<string?> ReceiveAsync(ClientWebSocket socket, byte[] buffer)
    {
        var length = 0;
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            length += received.Count;
            if (received.EndOfMessage)
            {
                return Encoding.UTF8.GetString(buffer, 0, length);
            }
        }
    }

    private static async Task<ClientWebSocket> OpenAsync(int port, int token, string session)
    {
        var ws = new ClientWebSocket();
        ws.Options.SetRequestHeader("Cookie", "freeside_session=" + session);
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat/{Slug}/{token}/ws"), CancellationToken.None);
        var buffer = new byte[4096];
        var welcome = await ReceiveAsync(ws, buffer);
        if (welcome is null || !welcome.Contains("\"welcome\"", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("A socket was not welcomed: " + welcome);
        }

        return ws;
    }

    private static async Task<(string Session, EthereumAddress Address)> SignInAsync(HttpClient http, Uri baseUrl)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var address = PersonalSign.PrivateKeyToAddress(key);
        var nonce = (await http.GetFromJsonAsync<JsonElement>("/api/v1/auth/nonce")).GetProperty("nonce").GetString();
        var message = $"{baseUrl.Authority} wants you to sign in with your Ethereum account:\n{address.ToChecksumString()}\n\nbench\n\n"
            + $"URI: {baseUrl.ToString().TrimEnd('/')}\nVersion: 1\nChain ID: {ChainId}\nNonce: {nonce}\nIssued At: {SiweMessage.FormatTimestamp(DateTimeOffset.UtcNow)}";
        var signature = "0x" + Convert.ToHexStringLower(PersonalSign.Sign(PersonalSign.HashMessage(message), key));
        var response = await http.PostAsJsonAsync("/api/v1/auth/siwe", new { message, signature });
        response.EnsureSuccessStatusCode();
        return ((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!, address);
    }

    private static async Task WaitHealthyAsync(HttpClient http, Process process, ConcurrentQueue<string> errors)
    {
        for (var i = 0; i < 600 && !process.HasExited; i++)
        {
            try
            {
                if ((await http.GetAsync("/health")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException("Freeside did not become healthy: " + string.Join(" | ", errors));
    }

    private static double Mb(long bytes) => bytes / 1024.0 / 1024.0;

    /// <summary>The process's own GC and memory figures (the System.Runtime meter on its management /metrics), summed per series name.</summary>
    private static async Task<Dictionary<string, double>> GcFiguresAsync(Uri management)
    {
        using var http = new HttpClient { BaseAddress = management };
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in (await http.GetStringAsync("/metrics")).Split('\n'))
        {
            if (line.StartsWith("dotnet_gc_", StringComparison.Ordinal) || line.StartsWith("dotnet_process_memory", StringComparison.Ordinal)
                || line.StartsWith("dotnet_jit_compiled_il", StringComparison.Ordinal))
            {
                var name = line.Split('{', ' ')[0];
                if (double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    figures[name] = figures.GetValueOrDefault(name) + value;
                }
            }
        }

        return figures;
    }

    /// <summary>
    /// The process's resident memory: the whole (VmRSS), its anonymous part (GC heap, native heaps, stacks), file-backed part
    /// (mapped assemblies and native libraries) and shared-memory part (the runtime's W^X double-mapped code and stub heaps).
    /// </summary>
    private readonly record struct Memory(long Rss, long Anonymous, long File, long Shmem)
    {
        public static Memory Of(int pid)
        {
            long Kb(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            var status = System.IO.File.ReadLines($"/proc/{pid}/status").ToList();
            return new Memory(
                Kb(status.First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))),
                Kb(status.First(l => l.StartsWith("RssAnon:", StringComparison.Ordinal))),
                Kb(status.First(l => l.StartsWith("RssFile:", StringComparison.Ordinal))),
                Kb(status.First(l => l.StartsWith("RssShmem:", StringComparison.Ordinal))));
        }
    }

    /// <summary>The repository root's build output of a project (bench/Freeside.Bench/bin/C/net10.0 → src/NAME/bin/C/net10.0/NAME.dll).</summary>
    private static string WebDll() => FinnStubProcess.BuiltDll("Freeside.Web");

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
            return string.Join(' ', System.IO.File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    /// <summary>A loopback Ethereum JSON-RPC node answering ownerOf(token) from the bench's table of holders.</summary>
    private sealed class ChainHost : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private ChainHost(WebApplication app)
        {
            _app = app;
            RpcUrl = new Uri(app.Urls.First() + "/rpc");
        }

        public Uri RpcUrl { get; }

        public static async Task<ChainHost> StartAsync(ConcurrentDictionary<int, EthereumAddress> holders)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            app.MapPost("/rpc", async (HttpRequest request) =>
            {
                using var json = await JsonDocument.ParseAsync(request.Body);
                var id = json.RootElement.GetProperty("id").Clone();
                var data = json.RootElement.GetProperty("params")[0].GetProperty("data").GetString()!;
                // ownerOf(uint256) = 0x6352211e; the token id is the last 32 bytes.
                var token = data.StartsWith("0x6352211e", StringComparison.Ordinal) ? int.Parse(data[^8..], NumberStyles.HexNumber, CultureInfo.InvariantCulture) : -1;
                return holders.TryGetValue(token, out var holder)
                    ? Results.Json(new { jsonrpc = "2.0", id, result = "0x" + new string('0', 24) + holder.ToChecksumString()[2..].ToLowerInvariant() })
                    : Results.Json(new { jsonrpc = "2.0", id, error = new { code = 3, message = "execution reverted" } });
            });
            await app.StartAsync();
            return new ChainHost(app);
        }

        public ValueTask DisposeAsync() => _app.DisposeAsync();
    }
}
