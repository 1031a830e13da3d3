using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Developers;
using Freeside.Features.Payments;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freeside.Bench;

/// <summary>
/// The developer API (docs/developers.md, "Benchmark"): in-process key verification with a warm cache, then
/// <c>POST /v1/chat/completions</c> streamed (24 tokens, upstream without delay, 64 concurrent, live keys, each call
/// reserved, finalized and recorded) through the real Freeside binary against the same request through
/// Portkey's open-source gateway to the same upstream (the finn stand-in's OpenAI-style endpoint), in one run.
/// </summary>
public static class ApiBench
{
    private const int Concurrency = 64;
    private const int Developers = 13; // 10 keys each: 130 live keys at 1,000 requests/min apiece
    private const string AdminToken = "bench-admin-token-0123456789abcdef-0123456789";
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Measure = TimeSpan.FromSeconds(int.Parse(Environment.GetEnvironmentVariable("FREESIDE_BENCH_API_SECONDS") ?? "12", CultureInfo.InvariantCulture));

    public static async Task<BenchReport> RunAsync(BenchContext context)
    {
        var report = new BenchReport("api");
        var pepper = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var keys = await SeedKeysAsync(context, pepper);

        var verified = await VerifyAsync(context, pepper, keys);
        report.Add("key_verifications_per_s", verified, 200_000);

        var root = Root();
        var basePort = int.Parse(Environment.GetEnvironmentVariable("FREESIDE_BENCH_API_PORT") ?? "0", CultureInfo.InvariantCulture);
        int Port(int offset) => basePort > 0 ? basePort + offset : FreePort();
        var (webPort, managementPort, stubPort, portkeyPort) = (Port(0), Port(1), Port(2), Port(3));
        var web = StartWeb(root, context, webPort, managementPort, stubPort, pepper);
        Process? stub = null;
        Process? portkey = null;
        try
        {
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency * 2 }) { Timeout = TimeSpan.FromSeconds(30) };
            await WaitAsync(http, $"http://127.0.0.1:{webPort}/health", web);
            stub = StartStub(root, stubPort, webPort);
            await WaitAsync(http, $"http://127.0.0.1:{stubPort}/v1/health", stub);
            portkey = StartPortkey(root, portkeyPort);
            await WaitAsync(http, $"http://127.0.0.1:{portkeyPort}/", portkey, anyStatus: true);
            await GrantAsync(http, webPort, keys);

            var freesideUrl = $"http://127.0.0.1:{webPort}/v1/chat/completions";
            var portkeyUrl = $"http://127.0.0.1:{portkeyPort}/v1/chat/completions";
            HttpRequestMessage Freeside(int worker)
            {
                var request = new HttpRequestMessage(HttpMethod.Post, freesideUrl) { Content = Body() };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", keys[worker % keys.Count].Key);
                return request;
            }

            HttpRequestMessage Portkey(int worker)
            {
                var request = new HttpRequestMessage(HttpMethod.Post, portkeyUrl) { Content = Body() };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-unused-by-the-stand-in");
                request.Headers.Add("x-portkey-provider", "openai");
                request.Headers.Add("x-portkey-custom-host", $"http://127.0.0.1:{stubPort}/v1");
                return request;
            }

            // Warm both, then alternate so the machine's drift falls on both sides alike.
            var freesideCalls = (await LoadAsync(http, Freeside, Warmup)).Ok;
            await LoadAsync(http, Portkey, Warmup);
            await context.AnalyzeAsync();
            var f1 = await LoadAsync(http, Freeside, Measure);
            var p1 = await LoadAsync(http, Portkey, Measure);
            var f2 = await LoadAsync(http, Freeside, Measure);
            var p2 = await LoadAsync(http, Portkey, Measure);
            freesideCalls += f1.Ok + f2.Ok;
            var f = Run.Merge(f1, f2);
            var p = Run.Merge(p1, p2);

            var metered = await MeteredAsync(context, freesideCalls);
            report.Parameters["concurrency"] = Concurrency;
            report.Parameters["tokens"] = 24;
            report.Parameters["upstream_delay_ms"] = 0;
            report.Parameters["measure_seconds_per_side"] = Measure.TotalSeconds * 2;
            report.Parameters["live_keys"] = keys.Count;
            report.Parameters["portkey"] = "@portkey-ai/gateway 1.15.2 (@hono/node-server 1.13.8), node " + NodeVersion();
            report.Parameters["load_average"] = LoadAverage();
            report.Add("freeside_requests_per_s", f.PerSecond)
                .Add("freeside_p50_ms", f.Percentile(0.50))
                .Add("freeside_p99_ms", f.Percentile(0.99))
                .Add("freeside_errors", f.Errors, 0, higherIsBetter: false)
                .Add("portkey_requests_per_s", p.PerSecond)
                .Add("portkey_p50_ms", p.Percentile(0.50))
                .Add("portkey_p99_ms", p.Percentile(0.99))
                .Add("portkey_errors", p.Errors)
                .Add("freeside_over_portkey_throughput", p.PerSecond > 0 ? f.PerSecond / p.PerSecond : 0, 1.0)
                .Add("every_call_metered", metered ? 1 : 0, 1);
        }
        finally
        {
            foreach (var process in new[] { portkey, stub, web })
            {
                if (process is { HasExited: false })
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
            }
        }

        return report;
    }

    private sealed record SeededKey(string Key, EthereumAddress Wallet);

    private static async Task<List<SeededKey>> SeedKeysAsync(BenchContext context, string pepperText)
    {
        var pepper = Encoding.UTF8.GetBytes(pepperText);
        var keys = new List<SeededKey>();
        await using var connection = new NpgsqlConnection(context.OwnerConnectionString);
        await connection.OpenAsync();
        for (var d = 0; d < Developers; d++)
        {
            var wallet = PersonalSign.PrivateKeyToAddress(RandomNumberGenerator.GetBytes(32));
            var developer = CreatePayment.DeveloperId(wallet);
            await using (var insert = new NpgsqlCommand("INSERT INTO developers (id, wallet, tier, created_at) VALUES (@id, @wallet, 'pro', now())", connection))
            {
                insert.Parameters.AddWithValue("id", developer);
                insert.Parameters.AddWithValue("wallet", "0x" + Convert.ToHexStringLower(wallet.ToArray()));
                await insert.ExecuteNonQueryAsync();
            }

            for (var k = 0; k < ApiKey.MaxActivePerDeveloper; k++)
            {
                var (id, secret, salt) = (ApiKeyFormat.NewId(), ApiKeyFormat.NewSecret(), RandomNumberGenerator.GetBytes(16));
                await using var key = new NpgsqlCommand("""
                    INSERT INTO api_keys (id, developer_id, name, mode, salt, secret_hash, pepper_version, requests_per_minute, tokens_per_day, created_at)
                    VALUES (@id, @developer, 'bench', 'live', @salt, @hash, 1, 1000, 10000000, now())
                    """, connection);
                key.Parameters.AddWithValue("id", id);
                key.Parameters.AddWithValue("developer", developer);
                key.Parameters.AddWithValue("salt", salt);
                key.Parameters.AddWithValue("hash", ApiKeyVerifier.Hash(pepper, salt, secret));
                await key.ExecuteNonQueryAsync();
                keys.Add(new SeededKey(ApiKeyFormat.Format(id, true, secret), wallet));
            }
        }

        return keys;
    }

    private static async Task<double> VerifyAsync(BenchContext context, string pepper, List<SeededKey> keys)
    {
        await using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        await using var database = NpgsqlDataSource.Create(context.AppConnectionString);
        var verifier = new ApiKeyVerifier(database, new DevelopersSettings(new Dictionary<int, byte[]> { [1] = Encoding.UTF8.GetBytes(pepper) }, 10, 1000),
            TimeProvider.System, services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        foreach (var key in keys)
        {
            if ((await verifier.VerifyAsync(key.Key, CancellationToken.None)).Check != KeyCheck.Valid)
            {
                throw new InvalidOperationException("A seeded key did not verify.");
            }
        }

        var presented = keys.Select(k => k.Key).ToArray();
        var stop = Stopwatch.StartNew();
        var counts = await Task.WhenAll(Enumerable.Range(0, Environment.ProcessorCount).Select(worker => Task.Run(async () =>
        {
            long done = 0;
            while (stop.Elapsed < TimeSpan.FromSeconds(3))
            {
                for (var i = 0; i < 1000; i++)
                {
                    var (check, _) = await verifier.VerifyAsync(presented[(worker + i) % presented.Length], CancellationToken.None);
                    if (check != KeyCheck.Valid)
                    {
                        throw new InvalidOperationException("A warm key did not verify.");
                    }
                }

                done += 1000;
            }

            return done;
        })));
        return counts.Sum() / stop.Elapsed.TotalSeconds;
    }

    private static StringContent Body() => new(
        """{"model":"cheap","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"Say something short."}]}""",
        Encoding.UTF8, "application/json");

    private sealed class Run
    {
        public List<double> Latencies { get; } = [];

        public long Ok { get; set; }

        public long Errors { get; set; }

        public double Seconds { get; set; }

        public double PerSecond => Seconds > 0 ? Ok / Seconds : 0;

        public double Percentile(double p)
        {
            if (Latencies.Count == 0)
            {
                return 0;
            }

            var sorted = Latencies.Order().ToList();
            return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
        }

        public static Run Merge(Run a, Run b)
        {
            var run = new Run { Ok = a.Ok + b.Ok, Errors = a.Errors + b.Errors, Seconds = a.Seconds + b.Seconds };
            run.Latencies.AddRange(a.Latencies);
            run.Latencies.AddRange(b.Latencies);
            return run;
        }
    }

    private static async Task<Run> LoadAsync(HttpClient http, Func<int, HttpRequestMessage> request, TimeSpan duration)
    {
        var run = new Run();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(worker => Task.Run(async () =>
        {
            var mine = new List<double>();
            long ok = 0;
            long errors = 0;
            while (clock.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.SendAsync(request(worker), HttpCompletionOption.ResponseHeadersRead);
                    var body = await response.Content.ReadAsStringAsync();
                    if (response.StatusCode == HttpStatusCode.OK && body.TrimEnd().EndsWith("data: [DONE]", StringComparison.Ordinal))
                    {
                        ok++;
                        mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    }
                    else
                    {
                        errors++;
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    errors++;
                }
            }

            lock (run)
            {
                run.Ok += ok;
                run.Errors += errors;
                run.Latencies.AddRange(mine);
            }
        })));
        run.Seconds = clock.Elapsed.TotalSeconds;
        return run;
    }

    /// <summary>Every call that answered 200 was recorded, and every hold was settled (finalized, none pending).</summary>
    private static async Task<bool> MeteredAsync(BenchContext context, long calls)
    {
        await using var connection = new NpgsqlConnection(context.OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM api_calls WHERE completed),
                   (SELECT count(*) FROM usage_events u JOIN credit_accounts a ON a.id = u.account_id WHERE a.kind = 'developer'),
                   (SELECT count(*) FROM credit_reservations WHERE status = 'pending')
            """, connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var (recorded, usage, pending) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        Console.WriteLine($"freeside calls answered 200: {calls}; api_calls completed: {recorded}; developer usage events: {usage}; pending holds: {pending}");
        return recorded == calls && usage == calls && pending == 0;
    }

    private static async Task GrantAsync(HttpClient http, int webPort, List<SeededKey> keys)
    {
        foreach (var wallet in keys.Select(k => k.Wallet).Distinct())
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{webPort}/api/v1/admin/developers/{wallet.ToChecksumString()}/grants")
            {
                Content = JsonContent.Create(new { amount_micro = 100_000_000, reason = "bench", idempotency_key = "bench" }),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
            using var response = await http.SendAsync(request);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"Granting bench credits failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }
    }

    private static Process StartWeb(string root, BenchContext context, int port, int managementPort, int stubPort, string pepper)
    {
        var start = Start("dotnet", root, Path.Combine(root, "src", "Freeside.Web", "bin", Configuration(), "net10.0", "Freeside.Web.dll"));
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["DATABASE_URL"] = context.AppConnectionString;
        start.Environment.Remove("DATABASE_MIGRATION_URL");
        start.Environment["FREESIDE_ADMIN_TOKEN"] = AdminToken;
        start.Environment["FREESIDE_KEY_ENCRYPTION_KEY"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        start.Environment["SIWE_DOMAINS"] = $"127.0.0.1:{port}";
        start.Environment["FREESIDE_JOBS_ENABLED"] = "false";
        start.Environment["FREESIDE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["FREESIDE_MANAGEMENT_URLS"] = $"http://127.0.0.1:{managementPort}";
        start.Environment["LOA_FINN_URL"] = $"http://127.0.0.1:{stubPort}";
        start.Environment["API_KEY_PEPPER_V1"] = pepper;
        start.Environment["FINN_BREAKER_MINIMUM_CALLS"] = "10000";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        return Launch(start);
    }

    private static Process StartStub(string root, int port, int webPort)
    {
        var start = Start("dotnet", root, Path.Combine(root, "src", "Freeside.FinnStub", "bin", Configuration(), "net10.0", "Freeside.FinnStub.dll"));
        start.Environment["FINN_STUB_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["FREESIDE_JWKS_URL"] = $"http://127.0.0.1:{webPort}/.well-known/jwks.json";
        start.Environment["FINN_STUB_TOKENS"] = "24";
        start.Environment["FINN_STUB_TOKEN_DELAY_MS"] = "0";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        return Launch(start);
    }

    private static Process StartPortkey(string root, int port)
    {
        var folder = Path.Combine(root, "bench", "portkey");
        if (!File.Exists(Path.Combine(folder, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js")))
        {
            throw new InvalidOperationException("bench/portkey has no node_modules: ./build.sh bench api runs npm ci there.");
        }

        return Launch(Start("node", folder, "--require", "./loopback.cjs", "node_modules/@portkey-ai/gateway/build/start-server.js", $"--port={port}", "--headless"));
    }

    private static ProcessStartInfo Start(string file, string directory, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return start;
    }

    private static Process Launch(ProcessStartInfo start)
    {
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line && Environment.GetEnvironmentVariable("FREESIDE_BENCH_VERBOSE") == "true")
            {
                Console.Error.WriteLine(line);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitAsync(HttpClient http, string url, Process process, bool anyStatus = false)
    {
        for (var i = 0; i < 600; i++)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{url}: the process exited with {process.ExitCode}.");
            }

            try
            {
                using var response = await http.GetAsync(url);
                if (anyStatus || response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException($"{url} did not come up.");
    }

    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "build.sh")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("build.sh was not found above the bench binary.");
    }

    private static string Configuration() => new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string NodeVersion()
    {
        try
        {
            using var node = Process.Start(new ProcessStartInfo("node", "--version") { RedirectStandardOutput = true })!;
            var version = node.StandardOutput.ReadToEnd().Trim();
            node.WaitForExit();
            return version;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
