using System.Diagnostics;
using System.Net;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Freeside.Tests.Health;

public sealed class PostgresOutageTests
{
    [Fact]
    public async Task GetHealth_PostgresStopsAndReturns_Goes503WithinFiveSecondsAndRecovers()
    {
        await using var postgres = await ThrowawayPostgres.StartAsync();
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            // Not Development: nothing to migrate on a bare cluster; /health needs only SELECT 1.
            builder.UseEnvironment("Staging");
            builder.UseSetting("DATABASE_URL", postgres.AppUrl);
            builder.UseSetting("REDIS_URL", TestEnvironment.RedisUrl ?? "");
            builder.UseSetting("FREESIDE_ADMIN_TOKEN", FreesideApp.AdminToken);
            builder.UseSetting("FREESIDE_KEY_ENCRYPTION_KEY", Convert.ToBase64String(new byte[32]));
            builder.UseSetting("SIWE_DOMAINS", "localhost");
            builder.UseSetting("FREESIDE_JOBS_ENABLED", "false");
        });
        var client = factory.CreateClient();
        // The first check opens the first connection to a cluster that has just started; on a loaded
        // machine that can take longer than the check's own 2 s limit, so wait for the service to be up.
        (await PollUntilAsync(client, HttpStatusCode.OK, TimeSpan.FromSeconds(15))).ShouldBe(HttpStatusCode.OK);

        await postgres.StopClusterAsync();
        var stopped = Stopwatch.StartNew();
        var status = await PollUntilAsync(client, HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(5));
        status.ShouldBe(HttpStatusCode.ServiceUnavailable, $"still {status} {stopped.Elapsed} after PostgreSQL stopped");

        await postgres.StartClusterAsync();
        (await PollUntilAsync(client, HttpStatusCode.OK, TimeSpan.FromSeconds(15))).ShouldBe(HttpStatusCode.OK);
    }

    private static async Task<HttpStatusCode> PollUntilAsync(HttpClient client, HttpStatusCode wanted, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        HttpStatusCode last;
        do
        {
            last = (await client.GetAsync("/health")).StatusCode;
            if (last == wanted)
            {
                return last;
            }

            await Task.Delay(200);
        }
        while (deadline.Elapsed < within);
        return last;
    }
}
