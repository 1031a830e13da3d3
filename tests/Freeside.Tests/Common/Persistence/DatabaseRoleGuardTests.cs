using System.Diagnostics;
using System.Net;
using Freeside.Features.Common.Persistence;
using Freeside.Tests.Identity.Ownership;
using Freeside.Tests.Infrastructure;
using Npgsql;

namespace Freeside.Tests.Common.Persistence;

/// <summary>
/// Outside Development the service refuses, at start-up, to serve as a role that row-level security does
/// not hold. Each case starts the real binary and expects exit code 2 and one line naming DATABASE_URL.
/// </summary>
public sealed class DatabaseRoleGuardTests : IAsyncLifetime
{
    private TestDatabase _database = null!;

    public async Task InitializeAsync() => _database = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task Start_AsSuperuser_ExitsTwoNamingDatabaseUrl()
    {
        var (exit, stderr) = await StartAsync(_database.OwnerConnectionString);

        exit.ShouldBe(2);
        stderr.ShouldHaveSingleItem().ShouldContain("DATABASE_URL: connects as");
        stderr.Single().ShouldContain("superuser");
    }

    [Fact]
    public async Task Start_AsRoleWithBypassRls_ExitsTwoNamingDatabaseUrl()
    {
        await WithRoleAsync("BYPASSRLS", async role =>
        {
            var (exit, stderr) = await StartAsync(As(role));

            exit.ShouldBe(2);
            stderr.ShouldHaveSingleItem().ShouldContain("DATABASE_URL:");
            stderr.Single().ShouldContain("BYPASSRLS");
        });
    }

    [Fact]
    public async Task Start_AsOwnerOfATenantTable_ExitsTwoNamingDatabaseUrl()
    {
        await WithRoleAsync("NOBYPASSRLS", async role =>
        {
            await _database.ExecuteAsync($"ALTER TABLE credit_lots OWNER TO {role}");

            var (exit, stderr) = await StartAsync(As(role));

            exit.ShouldBe(2);
            stderr.ShouldHaveSingleItem().ShouldContain("DATABASE_URL:");
            stderr.Single().ShouldContain("credit_lots");
        });
    }

    [Fact]
    public async Task Start_AsSuperuserWhileDatabaseIsDown_StopsWithTwoOnceItIsReachable()
    {
        // The start-up check cannot see the role during an outage; the first connection afterwards must.
        await using var cluster = await ThrowawayPostgres.StartAsync();
        await cluster.StopClusterAsync();
        var port = AnvilChain.FreePort();
        var start = ServiceStart(cluster.Url);
        start.Environment["FREESIDE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["FREESIDE_MANAGEMENT_URLS"] = $"http://127.0.0.1:{AnvilChain.FreePort()}";

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            (await HealthAsync(client, process)).ShouldBe(HttpStatusCode.ServiceUnavailable, "it serves, degraded, while PostgreSQL is down");

            await cluster.StartClusterAsync();
            for (var attempt = 0; attempt < 120 && !process.HasExited; attempt++)
            {
                await HealthAsync(client, process);
                await Task.Delay(250);
            }

            process.HasExited.ShouldBeTrue("a superuser connection must stop the service");
            process.ExitCode.ShouldBe(2);
            (await stderr).ShouldContain("DATABASE_URL: connects as 'freeside', a superuser");
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task RoleCheck_AppRole_IsAllowed()
    {
        (await DatabaseRoleGuard.RefusalAsync(_database.AppConnectionString, CancellationToken.None)).ShouldBeNull();
    }

    [Fact]
    public async Task Migrate_WithoutMigrationUrl_ExitsTwoNamingIt()
    {
        var (exit, stderr) = await StartAsync(_database.AppConnectionString, "migrate");

        exit.ShouldBe(2);
        stderr.ShouldHaveSingleItem().ShouldContain("DATABASE_MIGRATION_URL:");
    }

    private string As(string role) => new NpgsqlConnectionStringBuilder(_database.AppConnectionString) { Username = role }.ConnectionString;

    private async Task WithRoleAsync(string attributes, Func<string, Task> test)
    {
        var role = "guard_probe_" + Guid.NewGuid().ToString("N")[..8];
        await _database.ExecuteAsync($"CREATE ROLE {role} LOGIN NOSUPERUSER {attributes}");
        try
        {
            await test(role);
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await _database.ExecuteAsync($"REASSIGN OWNED BY {role} TO CURRENT_USER; DROP OWNED BY {role}; DROP ROLE {role}");
        }
    }

    private static async Task<HttpStatusCode?> HealthAsync(HttpClient client, Process process)
    {
        for (var attempt = 0; attempt < 240 && !process.HasExited; attempt++)
        {
            try
            {
                return (await client.GetAsync("/health")).StatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                await Task.Delay(250);
            }
        }

        return null;
    }

    private static async Task<(int Exit, string[] Stderr)> StartAsync(string databaseUrl, params string[] args)
    {
        var start = ServiceStart(databaseUrl, args);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(patience.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new ShouldAssertException("the process did not exit: it started serving");
        }

        return (process.ExitCode, (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static ProcessStartInfo ServiceStart(string databaseUrl, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["DATABASE_URL"] = databaseUrl;
        start.Environment["FREESIDE_ADMIN_TOKEN"] = FreesideApp.AdminToken;
        start.Environment["FREESIDE_KEY_ENCRYPTION_KEY"] = Convert.ToBase64String(new byte[32]);
        start.Environment["SIWE_DOMAINS"] = "localhost";
        start.Environment["FREESIDE_JOBS_ENABLED"] = "false";
        // Free ports, should the guard fail and the service start listening.
        start.Environment["FREESIDE_URLS"] = $"http://127.0.0.1:{AnvilChain.FreePort()}";
        start.Environment["FREESIDE_MANAGEMENT_URLS"] = $"http://127.0.0.1:{AnvilChain.FreePort()}";
        start.Environment.Remove("DATABASE_MIGRATION_URL");
        return start;
    }
}
