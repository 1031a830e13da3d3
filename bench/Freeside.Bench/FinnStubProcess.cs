using System.Diagnostics;
using System.Globalization;

namespace Freeside.Bench;

/// <summary>The finn stand-in (src/Freeside.FinnStub, as built) as a child process on a loopback port, its output discarded.</summary>
internal sealed class FinnStubProcess : IAsyncDisposable
{
    private readonly Process _process;

    private FinnStubProcess(Process process, Uri url)
    {
        _process = process;
        Url = url;
    }

    public Uri Url { get; }

    /// <summary>Starts it; it verifies Freeside's S2S tokens against <paramref name="jwks"/>, which need not answer yet.</summary>
    public static FinnStubProcess Start(Uri url, Uri jwks, int tokensPerChat, int tokenDelayMs)
    {
        var info = new ProcessStartInfo("dotnet", [BuiltDll("Freeside.FinnStub")]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.Environment["FREESIDE_JWKS_URL"] = jwks.ToString();
        info.Environment["FINN_STUB_URLS"] = url.ToString().TrimEnd('/');
        info.Environment["FINN_STUB_TOKENS"] = tokensPerChat.ToString(CultureInfo.InvariantCulture);
        info.Environment["FINN_STUB_TOKEN_DELAY_MS"] = tokenDelayMs.ToString(CultureInfo.InvariantCulture);
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new FinnStubProcess(process, url);
    }

    public static async Task<FinnStubProcess> StartHealthyAsync(Uri url, Uri jwks, int tokensPerChat, int tokenDelayMs)
    {
        var stub = Start(url, jwks, tokensPerChat, tokenDelayMs);
        try
        {
            await stub.WaitHealthyAsync();
            return stub;
        }
        catch
        {
            await stub.DisposeAsync();
            throw;
        }
    }

    public async Task WaitHealthyAsync()
    {
        using var http = new HttpClient { BaseAddress = Url };
        for (var i = 0; i < 300 && !_process.HasExited; i++)
        {
            try
            {
                if ((await http.GetAsync("/v1/health")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException("The finn stand-in did not become healthy.");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    /// <summary>A project's built assembly under src/ (same configuration as this bench).</summary>
    public static string BuiltDll(string name)
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory); // bench/Freeside.Bench/bin/<Configuration>/net10.0/
        var configuration = here.Parent!.Name;
        var root = here;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "build.sh")))
        {
            root = root.Parent;
        }

        var dll = Path.Combine(root?.FullName ?? ".", "src", name, "bin", configuration, "net10.0", name + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("Build first (./build.sh bench builds everything).", dll);
    }
}
