using System.Collections.Concurrent;
using System.Diagnostics;
using Freeside.Features.Common.Jobs;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace Freeside.Tests.Common.Jobs;

/// <summary>
/// Two real hosts (replicas) on one database with the scheduler on. A test-only job on a fast trigger
/// records which host ran which scheduled firing; clustering means each firing runs once across both.
/// </summary>
public sealed class ClusteredJobsTests : IAsyncLifetime
{
    // Every second, on the wall clock: a cron grid is the same for every host whenever it starts, so
    // separate (unclustered) schedulers would each run the same scheduled firing and be caught.
    private const string EverySecond = "* * * * * ?";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private readonly FiringLog _log = new();
    private readonly List<WebApplicationFactory<Program>> _hosts = [];
    private TestDatabase _database = null!;

    public async Task InitializeAsync() => _database = await TestDatabase.CreateAsync();

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }

        await _database.DisposeAsync();
    }

    [Fact]
    public async Task TwoHosts_FastTrigger_FireEachScheduledTimeOnce()
    {
        var a = StartHost("a");
        var b = StartHost("b");
        await WaitUntilAsync(async () => await CheckedInAsync() == 2, "both hosts checked in to one cluster");
        var stored = await _database.ScalarAsync<string>("SELECT string_agg(trigger_name, ',' ORDER BY trigger_name) FROM qrtz_triggers");
        stored.ShouldNotBeNull().Split(',').ShouldBe(
            ["identity.purge-expired", "identity.rotate-signing-key", "ledger-audit-conservation", "ledger-expire-lots", "ledger-release-orphaned-holds", "payments-reconcile", "test.counting"],
            "the capabilities' triggers live in the shared job store, once");

        await WaitUntilAsync(() => _log.Count >= 12, "12 firings");
        await StopAsync(a);
        await StopAsync(b);

        var firings = _log.Snapshot();
        firings.Count.ShouldBeGreaterThanOrEqualTo(12);
        firings.GroupBy(f => f.Scheduled).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key:O} ran on {string.Join(", ", g.Select(f => f.Host))}")
            .ShouldBeEmpty("each scheduled firing runs on one host only");
    }

    [Fact]
    public async Task HostStops_TheOtherHost_TakesOverItsTriggers()
    {
        var a = StartHost("a");
        await WaitUntilAsync(() => _log.Count >= 3, "3 firings with one host");
        var b = StartHost("b");
        await StopAsync(a);
        var afterStop = _log.Count;

        await WaitUntilAsync(() => _log.Snapshot().Skip(afterStop).Count(f => f.Host == "b") >= 5, "5 firings on b after a stopped");
        await StopAsync(b);

        var firings = _log.Snapshot();
        firings.Skip(afterStop).ShouldAllBe(f => f.Host == "b");
        firings.GroupBy(f => f.Scheduled).ShouldAllBe(g => g.Count() == 1);
    }

    [Fact]
    public async Task JobsDisabled_Host_StaysOutOfTheCluster()
    {
        var off = StartHost("off", jobsEnabled: false);
        StartHost("a");

        await WaitUntilAsync(() => _log.Count >= 3, "3 firings");

        off.Services.GetService<ISchedulerFactory>().ShouldBeNull();
        (await CheckedInAsync()).ShouldBe(1);
        _log.Snapshot().ShouldAllBe(f => f.Host == "a");
    }

    private WebApplicationFactory<Program> StartHost(string name, bool jobsEnabled = true)
    {
        var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Development");
            builder.UseSetting("DATABASE_URL", _database.AppConnectionString);
            builder.UseSetting("DATABASE_MIGRATION_URL", _database.OwnerConnectionString);
            builder.UseSetting("REDIS_URL", TestEnvironment.RedisUrl ?? "");
            builder.UseSetting("FREESIDE_ADMIN_TOKEN", FreesideApp.AdminToken);
            builder.UseSetting("FREESIDE_JOBS_ENABLED", jobsEnabled ? "true" : "false");
            builder.ConfigureTestServices(services =>
            {
                services.AddSingleton(_log);
                services.AddSingleton(new HostName(name));
                services.ConfigureAllQuartzSchedulers(quartz => quartz.ScheduleJob<CountingJob>(trigger => trigger
                    .WithIdentity("test.counting")
                    .WithCronSchedule(EverySecond)));
            });
        });
        _ = factory.Server;
        _hosts.Add(factory);
        return factory;
    }

    private async Task StopAsync(WebApplicationFactory<Program> host)
    {
        _hosts.Remove(host);
        await host.DisposeAsync();
    }

    private Task<long> CheckedInAsync() =>
        _database.ScalarAsync<long>("SELECT count(*) FROM qrtz_scheduler_state WHERE sched_name = @s", ("s", JobsRegistration.SchedulerName));

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var waited = Stopwatch.StartNew();
        while (!await condition())
        {
            waited.Elapsed.ShouldBeLessThan(Patience, $"waiting for {what}");
            await Task.Delay(50);
        }
    }

    public sealed record HostName(string Name);

    public sealed record Firing(string Host, DateTimeOffset Scheduled);

    public sealed class FiringLog
    {
        private readonly ConcurrentQueue<Firing> _firings = new();

        public int Count => _firings.Count;

        public void Record(Firing firing) => _firings.Enqueue(firing);

        public List<Firing> Snapshot() => [.. _firings];
    }

    [DisallowConcurrentExecution]
    public sealed class CountingJob(FiringLog log, HostName host) : IJob
    {
        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
        {
            log.Record(new Firing(host.Name, context.ScheduledFireTimeUtc ?? context.FireTimeUtc));
            return ValueTask.CompletedTask;
        }
    }
}
