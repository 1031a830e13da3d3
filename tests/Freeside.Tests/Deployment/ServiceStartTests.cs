using System.Diagnostics;
using System.Net;
using Freeside.Tests.Identity.Ownership;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Deployment;

/// <summary>
/// The real binary started as `dotnet Freeside.Web.dll`, the way build.sh and the container start it.
/// The in-process test host loads assemblies differently, so a start-up failure of the real process
/// (Carter's assembly catalog threw there once) is invisible to every WebApplicationFactory test.
/// </summary>
public sealed class ServiceStartTests : IAsyncLifetime
{
    private TestDatabase _database = null!;

    public async Task InitializeAsync() => _database = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task Start_AsAppRoleInProduction_ServesHealthAndEveryModulesRoutes()
    {
        var port = AnvilChain.FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(WebBinary());
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["DATABASE_URL"] = _database.AppConnectionString;
        start.Environment["FREESIDE_ADMIN_TOKEN"] = FreesideApp.AdminToken;
        start.Environment["FREESIDE_KEY_ENCRYPTION_KEY"] = Convert.ToBase64String(new byte[32]);
        start.Environment["SIWE_DOMAINS"] = $"127.0.0.1:{port}";
        start.Environment["FREESIDE_JOBS_ENABLED"] = "false";
        start.Environment["FREESIDE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["FREESIDE_MANAGEMENT_URLS"] = $"http://127.0.0.1:{AnvilChain.FreePort()}";
        start.Environment.Remove("DATABASE_MIGRATION_URL");

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            var health = await PollHealthAsync(client, process);
            health.ShouldBe(HttpStatusCode.OK, await ExitedWithAsync(process, stderr));

            // One route of each capability's module: mapped, and answering with its own problem.
            (await client.GetAsync("/api/v1/communities/no-such-club")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
            (await client.GetAsync("/api/v1/auth/nonce")).StatusCode.ShouldBe(HttpStatusCode.OK);
            (await client.GetAsync("/api/v1/communities/no-such-club/balance")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
            (await client.PostAsync("/api/telegram/webhook", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public void RuntimeConfig_AsBuilt_CarriesTheHostsMemorySettings()
    {
        // docs/webchat.md, "Memory": runtimeconfig knobs travel with the build (build.sh run, the image, the benches), unlike variables.
        var path = Path.ChangeExtension(WebBinary(), ".runtimeconfig.json");
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        var properties = json.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        properties.GetProperty("System.GC.Server").GetBoolean().ShouldBeFalse();
        properties.GetProperty("System.GC.Concurrent").GetBoolean().ShouldBeTrue();
        properties.GetProperty("System.Runtime.TieredPGO").GetBoolean().ShouldBeFalse();
        properties.GetProperty("System.GC.Gen0MaxBudget").GetInt64().ShouldBe(4 * 1024 * 1024);
    }

    /// <summary>The web project's own output (build.sh runs that file), not the copy in the test's bin.</summary>
    private static string WebBinary()
    {
        var output = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));
        var binary = Path.Combine(TestEnvironment.RepositoryRoot, "src", "Freeside.Web", "bin", output.Parent!.Name, output.Name, "Freeside.Web.dll");
        File.Exists(binary).ShouldBeTrue($"{binary} is built with the solution");
        return binary;
    }

    private static async Task<HttpStatusCode?> PollHealthAsync(HttpClient client, Process process)
    {
        // Bounded by attempts, not asserted on time: the start may be slow on a loaded machine.
        for (var attempt = 0; attempt < 240 && !process.HasExited; attempt++)
        {
            try
            {
                var response = await client.GetAsync("/health");
                return response.StatusCode;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(250);
            }
        }

        return null;
    }

    private static async Task<string> ExitedWithAsync(Process process, Task<string> stderr) =>
        process.HasExited ? $"the service exited {process.ExitCode}: {await stderr}" : "the service never answered /health";
}
