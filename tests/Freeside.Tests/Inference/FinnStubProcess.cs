using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Freeside.Features.Inference.Finn;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Inference;

/// <summary>
/// The finn stand-in (src/Freeside.FinnStub) as a separate process on a loopback port, with faults
/// enabled, verifying tokens against Freeside's JWKS served over real HTTP by a small proxy host.
/// </summary>
public sealed class FinnStubProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly WebApplication _jwksProxy;

    private FinnStubProcess(Process process, WebApplication jwksProxy, Uri url)
    {
        _process = process;
        _jwksProxy = jwksProxy;
        Url = url;
    }

    public Uri Url { get; }

    /// <summary>A loopback port nobody listens on right now.</summary>
    public static int FreePort() => TestPorts.Free();

    public static async Task<FinnStubProcess> StartAsync(int port, Func<HttpClient> freeside, int tokenDelayMs = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var proxy = builder.Build();
        proxy.MapGet("/.well-known/jwks.json", async () =>
        {
            using var client = freeside();
            return Results.Text(await client.GetStringAsync("/.well-known/jwks.json"), "application/json");
        });
        await proxy.StartAsync();

        var info = new ProcessStartInfo("dotnet", [StubDll()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["FREESIDE_JWKS_URL"] = proxy.Urls.First() + "/.well-known/jwks.json";
        info.Environment["FINN_STUB_URLS"] = $"http://127.0.0.1:{port}";
        info.Environment["FINN_STUB_FAULTS"] = "true";
        info.Environment["FINN_STUB_TOKEN_DELAY_MS"] = tokenDelayMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = Process.Start(info)!;
        // The last lines it printed, for the failure message should it not come up.
        var output = new Queue<string>();
        void Keep(string? line)
        {
            lock (output)
            {
                if (line is not null)
                {
                    output.Enqueue(line);
                }

                while (output.Count > 20)
                {
                    output.Dequeue();
                }
            }
        }

        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var stub = new FinnStubProcess(process, proxy, new Uri($"http://127.0.0.1:{port}"));

        using var http = new HttpClient { BaseAddress = stub.Url };
        for (var i = 0; i < 300; i++)
        {
            try
            {
                if ((await http.GetAsync("/v1/health")).IsSuccessStatusCode)
                {
                    return stub;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (process.HasExited)
            {
                break;
            }

            await Task.Delay(100);
        }

        var exited = process.HasExited ? $"exited with {process.ExitCode}" : "still running after 30 s";
        await stub.DisposeAsync();
        string printed;
        lock (output)
        {
            printed = string.Join(" | ", output);
        }

        throw new InvalidOperationException($"The finn stand-in on port {port} did not become healthy ({exited}): {printed}");
    }

    /// <summary>What the stand-in received: each request's decoded claims.</summary>
    public async Task<System.Text.Json.JsonElement[]> RequestsAsync()
    {
        using var http = new HttpClient { BaseAddress = Url };
        using var json = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/_stub/requests"));
        return [.. json.RootElement.EnumerateArray().Select(e => e.Clone())];
    }

    private static string StubDll()
    {
        var here = AppContext.BaseDirectory; // tests/Freeside.Tests/bin/<Configuration>/net10.0/
        var configuration = new DirectoryInfo(here).Parent!.Name;
        var root = new DirectoryInfo(here);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "build.sh")))
        {
            root = root.Parent;
        }

        var dll = Path.Combine(root!.FullName, "src", "Freeside.FinnStub", "bin", configuration, "net10.0", "Freeside.FinnStub.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("Build the finn stand-in first.", dll);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        await _jwksProxy.DisposeAsync();
    }
}

/// <summary>Counts the requests of one app that reached the wire to finn.</summary>
public sealed class FinnWire
{
    private int _sent;

    public int Sent => Volatile.Read(ref _sent);

    /// <summary>The fault for calls from the app's own requests (an AsyncLocal does not flow into the test server).</summary>
    public string? Fault { get; set; }

    internal void Count() => Interlocked.Increment(ref _sent);
}

/// <summary>Adds the stand-in's X-Finn-Fault header for the current async flow, and counts what reached the wire.</summary>
public sealed class FinnFaultHandler(FinnWire wire) : DelegatingHandler
{
    private static readonly AsyncLocal<string?> CurrentFault = new();

    public static IDisposable Inject(string fault)
    {
        CurrentFault.Value = fault;
        return new Reset();
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        wire.Count();
        if ((CurrentFault.Value ?? wire.Fault ?? await FaultInBodyAsync(request, cancellationToken)) is { } fault)
        {
            request.Headers.Add("X-Finn-Fault", fault);
        }

        return await base.SendAsync(request, cancellationToken);
    }

    /// <summary>A chat message may carry "[fault:…]", so concurrent chats can each ask for their own fault.</summary>
    private static async Task<string?> FaultInBodyAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Content is null)
        {
            return null;
        }

        var body = await request.Content.ReadAsStringAsync(cancellationToken);
        var start = body.IndexOf("[fault:", StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }

        var end = body.IndexOf(']', start);
        return body[(start + 7)..end];
    }

    private sealed class Reset : IDisposable
    {
        public void Dispose() => CurrentFault.Value = null;
    }
}

/// <summary>
/// Freeside wired to a finn stand-in process of its own: LOA_FINN_URL points at a port chosen before
/// the host starts, and the stand-in starts once Freeside's JWKS can be served.
/// </summary>
public class FreesideWithFinn : FreesideApp, IAsyncLifetime
{
    private readonly int _port = FinnStubProcess.FreePort();
    private FinnStubProcess? _stub;

    public FinnWire Wire { get; } = new();

    public FinnStubProcess Stub => _stub ?? throw new InvalidOperationException("The stand-in has not started.");

    /// <summary>False plays "finn is down": nothing listens on LOA_FINN_URL.</summary>
    protected virtual bool StartStub => true;

    protected virtual int TokenDelayMs => 0;

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["LOA_FINN_URL"] = $"http://127.0.0.1:{_port}";
        settings["FINN_FIRST_BYTE_TIMEOUT_MS"] = "1500";
        settings["FINN_RETRY_BACKOFF_MS"] = "10";
        settings["FINN_BREAKER_MINIMUM_CALLS"] = "1000";
        return settings;
    }

    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton(Wire);
        services.AddHttpClient(FinnClient.HttpClientName).AddHttpMessageHandler(() => new FinnFaultHandler(Wire));
    }

    /// <summary>Runs before the host starts (and so before <see cref="Settings"/> is read).</summary>
    protected virtual Task BeforeStartAsync() => Task.CompletedTask;

    protected virtual Task AfterStopAsync() => Task.CompletedTask;

    public new async Task InitializeAsync()
    {
        await BeforeStartAsync();
        await base.InitializeAsync();
        if (StartStub)
        {
            _stub = await FinnStubProcess.StartAsync(_port, CreateClient, TokenDelayMs);
        }
    }

    public new async Task DisposeAsync()
    {
        if (_stub is not null)
        {
            await _stub.DisposeAsync();
        }

        await base.DisposeAsync();
        await AfterStopAsync();
    }
}
