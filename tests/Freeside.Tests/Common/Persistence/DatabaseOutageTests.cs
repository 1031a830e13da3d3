using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Npgsql;

namespace Freeside.Tests.Common.Persistence;

/// <summary>Issue 8 item 1: while PostgreSQL is down, routes that need it answer 503 at once and recover by themselves.</summary>
public sealed class DatabaseOutageTests
{
    private sealed record Outcome(string Route, HttpStatusCode Status, TimeSpan Latency, string? ContentType, string? ProblemType, bool RetryAfter);

    [Fact]
    public async Task Routes_PostgresStopsMidTraffic_Answer503DatabaseUnavailableQuicklyAndRecover()
    {
        await using var postgres = await ThrowawayPostgres.StartAsync();
        var app = new NpgsqlConnectionStringBuilder($"Host=127.0.0.1;Port={postgres.Port};Database=postgres;Username=freeside_app");
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            // Development migrates the throwaway cluster on start and creates the app role.
            builder.UseEnvironment("Development");
            builder.UseSetting("DATABASE_URL", app.ConnectionString);
            builder.UseSetting("DATABASE_MIGRATION_URL", postgres.Url);
            builder.UseSetting("REDIS_URL", TestEnvironment.RedisUrl ?? "");
            builder.UseSetting("FREESIDE_ADMIN_TOKEN", FreesideApp.AdminToken);
            builder.UseSetting("FREESIDE_JOBS_ENABLED", "false");
        });
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", FreesideApp.AdminToken);
        (await client.PostAsJsonAsync("/api/v1/admin/communities", new
        {
            slug = "outage", name = "Outage", chain_id = 1, collection_address = "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d", default_access_level = "free",
        })).StatusCode.ShouldBe(HttpStatusCode.Created);

        var outcomes = new ConcurrentQueue<Outcome>();
        var granted = new ConcurrentBag<string>();
        var attempted = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        async Task TrafficAsync(int worker)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var key = $"w{worker}-{i}";
                var read = i % 2 == 0;
                var started = Stopwatch.StartNew();
                if (!read)
                {
                    attempted.Add(key);
                }

                using var response = read
                    ? await client.GetAsync("/api/v1/communities/outage")
                    : await client.PostAsJsonAsync("/api/v1/admin/communities/outage/grants", new { amount_micro = 1, reason = "outage", idempotency_key = key });
                var latency = started.Elapsed;
                string? problemType = null;
                if (response.Content.Headers.ContentType?.MediaType == "application/problem+json")
                {
                    problemType = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString();
                }

                if (response.StatusCode == HttpStatusCode.Created)
                {
                    granted.Add(key);
                }

                outcomes.Enqueue(new Outcome(read ? "get" : "grant", response.StatusCode, latency, response.Content.Headers.ContentType?.MediaType,
                    problemType, response.Headers.RetryAfter is not null));
                await Task.Delay(20);
            }
        }

        var traffic = Enumerable.Range(0, 4).Select(TrafficAsync).ToArray();
        await WaitForAsync(() => outcomes.Count(o => o.Status == HttpStatusCode.OK) >= 4 && !granted.IsEmpty);

        var outageStarts = outcomes.Count;
        await postgres.StopClusterAsync();
        await WaitForAsync(() => outcomes.Skip(outageStarts).Count(o => o.Status == HttpStatusCode.ServiceUnavailable) >= 40);
        var duringOutage = outcomes.Skip(outageStarts).ToList();

        await postgres.StartClusterAsync();
        var recoveryStarts = outcomes.Count;
        await WaitForAsync(() => outcomes.Skip(recoveryStarts).Count(o => o.Status is HttpStatusCode.OK or HttpStatusCode.Created) >= 10);
        await stop.CancelAsync();
        await Task.WhenAll(traffic);

        // Before the stop every answer was a success; during the outage nothing else but the 503 problem.
        outcomes.Take(outageStarts).Where(o => o.Status is not (HttpStatusCode.OK or HttpStatusCode.Created)).ShouldBeEmpty();
        var failures = duringOutage.Where(o => o.Status is not (HttpStatusCode.OK or HttpStatusCode.Created)).ToList();
        failures.Where(o => o.Status != HttpStatusCode.ServiceUnavailable).ShouldBeEmpty();
        failures.ShouldAllBe(o => o.ContentType == "application/problem+json" && o.ProblemType == "https://freeside.dev/problems/database-unavailable" && o.RetryAfter);
        failures.Select(o => o.Route).Distinct().Count().ShouldBe(2, "both the read and the money command must meet the outage");
        // Functional, not a benchmark: the old retry-on-failure held each request ~4 s before its 500.
        // A generous bound that still tells "answered at once" from "retried while the database was gone".
        failures.Max(o => o.Latency).ShouldBeLessThan(TimeSpan.FromSeconds(2.5));

        // Recovered by itself, and no grant was lost or doubled: every 201 has its lot, nothing more
        // than was attempted exists (a 503 may come after a commit whose answer was lost).
        (await client.GetAsync("/api/v1/communities/outage")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await using var owner = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(app.ConnectionString) { Username = "freeside", Pooling = false }.ConnectionString);
        await owner.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT split_part(source_ref, ':', 2) FROM credit_lots WHERE source = 'grant'", owner);
        var lots = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                lots.Add(reader.GetString(0));
            }
        }

        lots.ShouldBeUnique();
        lots.ShouldBeSubsetOf(attempted);
        granted.ShouldBeSubsetOf(lots);
    }

    [Fact]
    public async Task Route_DatabaseAcceptsButNeverAnswers_Is503WithinTheConnectTimeout()
    {
        // A host that is down but not refusing (a stopped VM, a black-holed route): the connection
        // opens and nothing ever answers. Only the connect timeout ends the wait.
        using var silent = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var held = new ConcurrentBag<System.Net.Sockets.TcpClient>();
        _ = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    held.Add(await silent.AcceptTcpClientAsync());
                }
            }
            catch (Exception e) when (e is ObjectDisposedException or System.Net.Sockets.SocketException)
            {
                // the test is over
            }
        });
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        // Start-up (Development migrates) needs a real database; only the app's own connections go to the silent one.
        await using var migrated = await TestDatabase.CreateAsync();
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Development");
            builder.UseSetting("DATABASE_URL", $"Host=127.0.0.1;Port={port};Database=freeside;Username=freeside_app");
            builder.UseSetting("DATABASE_MIGRATION_URL", migrated.OwnerConnectionString);
            builder.UseSetting("REDIS_URL", TestEnvironment.RedisUrl ?? "");
            builder.UseSetting("FREESIDE_ADMIN_TOKEN", FreesideApp.AdminToken);
            builder.UseSetting("FREESIDE_JOBS_ENABLED", "false");
        });
        var client = factory.CreateClient();
        client.Timeout = TimeSpan.FromSeconds(60);

        var started = Stopwatch.StartNew();
        var response = await client.GetAsync("/api/v1/communities/anything");
        var latency = started.Elapsed;

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString().ShouldBe("https://freeside.dev/problems/database-unavailable");
        response.Headers.RetryAfter.ShouldNotBeNull();
        held.ShouldNotBeEmpty();
        // Functional, not a benchmark: the 1 s connect timeout answers; Npgsql's default (15 s) and
        // the old retries would hold the request far longer than this generous bound.
        latency.ShouldBeLessThan(TimeSpan.FromSeconds(5));
        foreach (var connection in held)
        {
            connection.Dispose();
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            if (waited.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException("The traffic never reached the expected state.");
            }

            await Task.Delay(50);
        }
    }
}
