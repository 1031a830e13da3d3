using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.RateLimiting;

namespace Freeside.Bench;

/// <summary>
/// Issue 12: idle chat sockets held by one Freeside process (started as its own process, so its RSS is its own):
/// 1,000 sockets of 334 wallets (three each, the per-wallet limit), the RSS of the whole process before and after.
/// The streaming half (200 concurrent chats, added time-to-first-token over HTTP) is not built yet.
/// </summary>
public static class WebSocketBench
{
    private const int Sockets = 1_000;

    public static async Task<BenchReport> RunAsync(BenchContext context)
    {
        var port = FreePort();
        var baseUrl = new Uri($"http://127.0.0.1:{port}");
        var admin = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var info = new ProcessStartInfo("dotnet", [WebDll()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        info.Environment["DATABASE_URL"] = context.AppConnectionString;
        info.Environment["DATABASE_MIGRATION_URL"] = context.OwnerConnectionString;
        info.Environment["FREESIDE_ADMIN_TOKEN"] = admin;
        info.Environment["FREESIDE_URLS"] = baseUrl.ToString().TrimEnd('/');
        info.Environment["FREESIDE_MANAGEMENT_URLS"] = $"http://127.0.0.1:{FreePort()}";
        info.Environment["FREESIDE_JOBS_ENABLED"] = "false";
        // For comparison runs only: the host's own GC mode is what counts.
        var workstationGc = Environment.GetEnvironmentVariable("FREESIDE_BENCH_WORKSTATION_GC") == "1";
        if (workstationGc)
        {
            info.Environment["DOTNET_gcServer"] = "0";
        }
        foreach (var policy in RateLimitPolicies.Defaults)
        {
            info.Environment[policy.SettingName] = policy.Algorithm == RateLimitAlgorithm.TokenBucket ? "1000000/1s,burst=1000000" : "1000000/1s";
        }

        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var sockets = new List<ClientWebSocket>();
        try
        {
            using var http = new HttpClient { BaseAddress = baseUrl };
            await WaitHealthyAsync(http, process);
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", admin);
            var created = await http.PostAsJsonAsync("/api/v1/admin/communities", new
            {
                slug = "bench-ws", name = "bench", chain_id = 31337, collection_address = "0x5fbdb2315678afecb367f032d93f642f64180aa3", default_access_level = "free",
            });
            created.EnsureSuccessStatusCode();
            http.DefaultRequestHeaders.Authorization = null;

            // Sign-ins first, so the figure before the sockets already includes what sign-in traffic left on the heap.
            var sessions = new List<string>();
            for (var wallet = 0; wallet < (Sockets + 2) / 3; wallet++)
            {
                sessions.Add(await SignInAsync(http, baseUrl));
            }

            await Task.Delay(TimeSpan.FromSeconds(5));
            var idleRss = Rss(process);
            var opened = Stopwatch.StartNew();
            foreach (var session in sessions)
            {
                for (var seat = 0; seat < 3 && sockets.Count < Sockets; seat++)
                {
                    var ws = new ClientWebSocket();
                    ws.Options.SetRequestHeader("Cookie", "freeside_session=" + session);
                    await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat/bench-ws/1/ws"), CancellationToken.None);
                    var buffer = new byte[4096];
                    var welcome = await ws.ReceiveAsync(buffer, CancellationToken.None);
                    if (!Encoding.UTF8.GetString(buffer, 0, welcome.Count).Contains("\"welcome\"", StringComparison.Ordinal))
                    {
                        throw new InvalidOperationException("A socket was not welcomed: " + Encoding.UTF8.GetString(buffer, 0, welcome.Count));
                    }

                    sockets.Add(ws);
                }
            }

            var openSeconds = opened.Elapsed.TotalSeconds;
            GC.Collect();
            await Task.Delay(TimeSpan.FromSeconds(5));
            var heldRss = Rss(process);
            var stillOpen = sockets.Count(s => s.State == WebSocketState.Open);

            var report = new BenchReport("ws");
            report.Parameters["sockets"] = Sockets;
            report.Parameters["wallets"] = (Sockets + 2) / 3;
            report.Parameters["gc"] = workstationGc ? "workstation (DOTNET_gcServer=0, comparison run)" : "the host's default (server GC)";
            report.Parameters["note"] = "Freeside.Web as its own process; RSS from /proc/PID/status after the sockets settled 5 s";
            return report
                .Add("idle_sockets_open", stillOpen, Sockets)
                .Add("process_rss_mb_with_1000_idle_sockets", heldRss / 1024.0 / 1024.0, 200, higherIsBetter: false)
                .Add("process_rss_mb_after_sign_ins_before_sockets", idleRss / 1024.0 / 1024.0)
                .Add("rss_kb_per_socket", (heldRss - idleRss) / 1024.0 / Sockets)
                .Add("open_1000_sockets_seconds", openSeconds);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Abort();
                socket.Dispose();
            }

            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static async Task<string> SignInAsync(HttpClient http, Uri baseUrl)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var address = PersonalSign.PrivateKeyToAddress(key);
        var nonce = (await http.GetFromJsonAsync<JsonElement>("/api/v1/auth/nonce")).GetProperty("nonce").GetString();
        var message = $"{baseUrl.Authority} wants you to sign in with your Ethereum account:\n{address.ToChecksumString()}\n\nbench\n\n"
            + $"URI: {baseUrl.ToString().TrimEnd('/')}\nVersion: 1\nChain ID: 31337\nNonce: {nonce}\nIssued At: {SiweMessage.FormatTimestamp(DateTimeOffset.UtcNow)}";
        var signature = "0x" + Convert.ToHexStringLower(PersonalSign.Sign(PersonalSign.HashMessage(message), key));
        var response = await http.PostAsJsonAsync("/api/v1/auth/siwe", new { message, signature });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    private static async Task WaitHealthyAsync(HttpClient http, Process process)
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

        throw new InvalidOperationException("Freeside did not become healthy.");
    }

    private static long Rss(Process process)
    {
        var line = File.ReadLines($"/proc/{process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>The web host's own build output (bench/Freeside.Bench/bin/C/net10.0 → src/Freeside.Web/bin/C/net10.0).</summary>
    private static string WebDll()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = here.Parent!.Name;
        var root = here;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "build.sh")))
        {
            root = root.Parent;
        }

        return Path.Combine(root!.FullName, "src", "Freeside.Web", "bin", configuration, "net10.0", "Freeside.Web.dll");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
