using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Freeside.Features.Common.Jobs;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
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
    private readonly Gate _stuck = new();
    private TestDatabase _database = null!;

    public async Task InitializeAsync() => _database = await TestDatabase.CreateAsync();

    public async Task DisposeAsync()
    {
        // A failed assertion must not leave a host waiting on its stuck job for ever.
        _stuck.Open();
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
            ["discord-reverify-links", "identity.purge-expired", "identity.rotate-signing-key", "ledger-audit-conservation", "ledger-expire-lots", "ledger-release-orphaned-holds", "payments-reconcile", "telegram-purge-updates", "test.counting"],
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

    [Fact]
    public async Task Start_JobStoreNotUsableYet_ServesAndStartsTheSchedulerOnceItIs()
    {
        // The app role cannot read the job store yet, as when the database is down or not migrated at start.
        await _database.ExecuteAsync("REVOKE SELECT ON qrtz_job_details FROM freeside_app");
        var a = StartHost("a");
        using var client = a.CreateClient();

        (await client.GetAsync("/health")).IsSuccessStatusCode.ShouldBeTrue("the host serves while its scheduler waits for the job store");
        (await CheckedInAsync()).ShouldBe(0);

        await _database.ExecuteAsync("GRANT SELECT ON qrtz_job_details TO freeside_app");
        await WaitUntilAsync(() => _log.Count >= 2, "2 firings once the job store is usable");
    }

    [Fact]
    public async Task HostDiesMidJob_TheOtherHost_RecoversItsTriggerAndFiresIt()
    {
        // a reaches PostgreSQL only through a proxy the test cuts: from the cluster's side that is a crash
        // (no shutdown, no more check-ins) while a's job is still running and its trigger is BLOCKED.
        await using var proxy = await TcpProxy.StartAsync(new NpgsqlConnectionStringBuilder(_database.AppConnectionString).Port);
        var stuck = _stuck;
        var a = StartHost("a", databaseUrl: new NpgsqlConnectionStringBuilder(_database.AppConnectionString) { Port = proxy.Port }.ConnectionString, gate: stuck);
        await WaitUntilAsync(() => _log.Count >= 1, "a's first firing");
        StartHost("b");
        await WaitUntilAsync(async () => await CheckedInAsync() == 2, "both hosts checked in");
        (await _database.ScalarAsync<string>("SELECT trigger_state FROM qrtz_triggers WHERE trigger_name = 'test.counting'"))
            .ShouldBe("BLOCKED", "a's running job holds the trigger, so b cannot fire it");

        proxy.Cut();
        var atCrash = _log.Count;
        await WaitUntilAsync(() => _log.Snapshot().Skip(atCrash).Count(f => f.Host == "b") >= 2, "2 firings on b after a died");

        _log.Snapshot().Count(f => f.Host == "a").ShouldBe(1, "a ran one firing and never finished it");
        stuck.Open();
        _hosts.Remove(a);
        await a.DisposeAsync();
    }

    private WebApplicationFactory<Program> StartHost(string name, bool jobsEnabled = true, string? databaseUrl = null, Gate? gate = null)
    {
        var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Development");
            builder.UseSetting("DATABASE_URL", databaseUrl ?? _database.AppConnectionString);
            builder.UseSetting("DATABASE_MIGRATION_URL", _database.OwnerConnectionString);
            builder.UseSetting("REDIS_URL", TestEnvironment.RedisUrl ?? "");
            builder.UseSetting("FREESIDE_ADMIN_TOKEN", FreesideApp.AdminToken);
            builder.UseSetting("FREESIDE_JOBS_ENABLED", jobsEnabled ? "true" : "false");
            builder.ConfigureTestServices(services =>
            {
                AddCountingJob(services, name);
                services.AddSingleton(gate ?? Gate.AlwaysOpen);
                // A host whose database is gone cannot finish its jobs' bookkeeping: do not wait long on it.
                services.Configure<HostOptions>(options => options.ShutdownTimeout = TimeSpan.FromSeconds(5));
            });
        });
        _ = factory.Server;
        _hosts.Add(factory);
        return factory;
    }

    private void AddCountingJob(IServiceCollection services, string host)
    {
        services.AddSingleton(_log);
        services.AddSingleton(new HostName(host));
        services.ConfigureAllQuartzSchedulers(quartz => quartz.ScheduleJob<CountingJob>(trigger => trigger
            .WithIdentity("test.counting")
            .WithCronSchedule(EverySecond)));
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
    public sealed class CountingJob(FiringLog log, HostName host, Gate gate) : IJob
    {
        public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
        {
            log.Record(new Firing(host.Name, context.ScheduledFireTimeUtc ?? context.FireTimeUtc));
            await gate.PassAsync(cancellationToken);
        }
    }

    /// <summary>Holds a host's job in the middle of its run until the test opens it.</summary>
    public sealed class Gate
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public static Gate AlwaysOpen { get; } = Opened();

        public void Open() => _open.TrySetResult();

        public Task PassAsync(CancellationToken cancellationToken) => _open.Task.WaitAsync(cancellationToken);

        private static Gate Opened()
        {
            var gate = new Gate();
            gate.Open();
            return gate;
        }
    }

    /// <summary>A TCP relay to PostgreSQL that the test can cut, dropping every connection through it at once.</summary>
    private sealed class TcpProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly ConcurrentBag<TcpClient> _sockets = [];
        private readonly CancellationTokenSource _cut = new();
        private readonly int _target;
        private Task _accepting = Task.CompletedTask;

        private TcpProxy(int target) => _target = target;

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public static Task<TcpProxy> StartAsync(int target)
        {
            var proxy = new TcpProxy(target);
            proxy._listener.Start();
            proxy._accepting = proxy.AcceptAsync();
            return Task.FromResult(proxy);
        }

        public void Cut()
        {
            _cut.Cancel();
            _listener.Stop();
            foreach (var socket in _sockets)
            {
                socket.Client.LingerState = new LingerOption(true, 0);
                socket.Dispose();
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_cut.IsCancellationRequested)
            {
                Cut();
            }

            await _accepting;
            _cut.Dispose();
        }

        private async Task AcceptAsync()
        {
            while (!_cut.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_cut.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }

                var server = new TcpClient();
                await server.ConnectAsync(IPAddress.Loopback, _target);
                _sockets.Add(client);
                _sockets.Add(server);
                _ = PumpAsync(client.GetStream(), server.GetStream());
                _ = PumpAsync(server.GetStream(), client.GetStream());
            }
        }

        private async Task PumpAsync(NetworkStream from, NetworkStream to)
        {
            try
            {
                await from.CopyToAsync(to, _cut.Token);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
            {
                // the cut, or a side hung up
            }
        }
    }
}
