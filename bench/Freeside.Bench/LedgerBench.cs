using System.Diagnostics;
using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Ledger;
using MediatR;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freeside.Bench;

/// <summary>
/// Reserve+finalize pairs through the real pipeline (via the per-account batcher), (a) 64 workers on
/// one hot account, (b) 64 workers spread over 1,000 accounts. Before each phase, pgbench measures raw
/// PostgreSQL on the same cluster with the same shape (64 clients, one row or 1,000 rows); the ratios
/// to it are what compares between machines. Ends with the full audit.
/// </summary>
public static class LedgerBench
{
    private const int Workers = 64;
    private const int SpreadAccounts = 1000;
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Measure = TimeSpan.FromSeconds(15);

    public static async Task<BenchReport> RunAsync(BenchContext context)
    {
        var loadBefore = LoadAverage();
        await using var services = Services(context.AppConnectionString, context.OwnerConnectionString);
        var accounts = await FundAsync(services, context.OwnerConnectionString, SpreadAccounts + 1, 1_000_000_000_000);
        var batcher = services.GetRequiredService<LedgerBatcher>();

        await PgbenchBaseline.PrepareAsync(context.OwnerConnectionString);

        var pgbenchHot = await BaselineAsync(context.OwnerConnectionString, hot: true);
        var hot = await RunPhaseAsync(batcher, _ => accounts[0], context);
        var pgbenchSpread = await BaselineAsync(context.OwnerConnectionString, hot: false);
        var spread = await RunPhaseAsync(batcher, random => accounts[1 + random.Next(SpreadAccounts)], context);

        await using var scope = services.CreateAsyncScope();
        var audit = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new AuditConservation.Command(null));
        var report = new BenchReport("ledger");
        report.Parameters["workers"] = Workers;
        report.Parameters["spread_accounts"] = SpreadAccounts;
        report.Parameters["warmup_s"] = Warmup.TotalSeconds;
        report.Parameters["settle_s"] = Settle.TotalSeconds;
        report.Parameters["measure_s"] = Measure.TotalSeconds;
        // The machine is shared; other work competing for its cores shows here.
        report.Parameters["load_average_before"] = loadBefore;
        report.Parameters["load_average_after"] = LoadAverage();
        report.Parameters["pair"] = "reserve 1000 micro-USD, finalize charging 600 (batched per account lane through ApplyLedgerBatch)";
        report.Parameters["pgbench"] = $"{PgbenchBaseline.Clients} clients, -M prepared, {Warmup.TotalSeconds} s warm-up then {Measure.TotalSeconds} s; "
            + $"a transaction updates one row and inserts one row; hot: row 1, spread: a random one of {PgbenchBaseline.SpreadRows}";
        report.Add("hot_pairs_per_s", hot.PairsPerSecond, 500)
            .Add("hot_p50_ms", hot.P50)
            .Add("hot_p99_ms", hot.P99)
            .Add("hot_errors", hot.Errors, 0, higherIsBetter: false)
            .Add("spread_pairs_per_s", spread.PairsPerSecond, 1500)
            .Add("spread_p50_ms", spread.P50)
            .Add("spread_p99_ms", spread.P99)
            .Add("spread_errors", spread.Errors, 0, higherIsBetter: false)
            .Add("pgbench_hot_tps", pgbenchHot)
            .Add("pgbench_spread_tps", pgbenchSpread)
            .Add("hot_ratio_to_pgbench", hot.PairsPerSecond / pgbenchHot, 1.5)
            .Add("spread_ratio_to_pgbench", spread.PairsPerSecond / pgbenchSpread, 0.5)
            .Add("audit_ok", audit.IsSuccess && audit.Value.Status == "ok" ? 1 : 0, 1);
        return report;
    }

    /// <summary>
    /// The crash test's child: reserves and finalizes on one account as fast as it can, leaving some
    /// holds pending on purpose, until it is killed. Prints "burst-running" once work is under way.
    /// </summary>
    public static async Task<int> BurstAsync(string appConnectionString, string ownerConnectionString, Guid accountId)
    {
        await using var services = Services(appConnectionString, ownerConnectionString);
        var batcher = services.GetRequiredService<LedgerBatcher>();
        var done = 0;
        var workers = Enumerable.Range(0, 16).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; ; i++)
            {
                var reserved = await batcher.ReserveAsync(new ReserveCredits.Command(accountId, 100, $"burst-{Environment.ProcessId}-{worker}-{i}"));
                if (reserved.IsSuccess && i % 3 != 0)
                {
                    await batcher.FinalizeAsync(new FinalizeReservation.Command(accountId, reserved.Value.ReservationId, 40, new Usage(), $"fin-{reserved.Value.ReservationId}"));
                }

                if (Interlocked.Increment(ref done) == 200)
                {
                    await Console.Out.WriteLineAsync("burst-running");
                    await Console.Out.FlushAsync();
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        return 0;
    }

    internal static ServiceProvider Services(string appConnectionString, string ownerConnectionString)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DATABASE_URL"] = appConnectionString,
            ["DATABASE_MIGRATION_URL"] = ownerConnectionString,
            ["FREESIDE_ADMIN_TOKEN"] = "bench-admin-token-0123456789abcdef",
            ["FREESIDE_KEY_ENCRYPTION_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["SIWE_DOMAINS"] = "app.example.com",
            ["FREESIDE_JOBS_ENABLED"] = "false",
        }).Build();
        var loaded = FreesideSettings.Load(configuration, isDevelopment: false);
        var settings = loaded.Settings ?? throw new InvalidOperationException(string.Join("; ", loaded.Errors));
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddFreesideFeatures(settings, configuration);
        return services.BuildServiceProvider();
    }

    internal static async Task<Guid[]> FundAsync(IServiceProvider services, string ownerConnectionString, int count, long amountMicro)
    {
        var prefix = "b" + Guid.NewGuid().ToString("N")[..8];
        await using (var connection = new NpgsqlConnection(ownerConnectionString))
        {
            await connection.OpenAsync();
            await using var insert = new NpgsqlCommand("""
                INSERT INTO communities (id, slug, name, chain_id, collection_address, default_access_level)
                SELECT gen_random_uuid(), @prefix || '-' || n, 'Bench ' || n, 1, '0x' || repeat('a', 40), 'pro' FROM generate_series(1, @count) n
                """, connection);
            insert.Parameters.AddWithValue("prefix", prefix);
            insert.Parameters.AddWithValue("count", count);
            await insert.ExecuteNonQueryAsync();
        }

        var accounts = new Guid[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (n, ct) =>
        {
            await using var scope = services.CreateAsyncScope();
            var grant = await scope.ServiceProvider.GetRequiredService<IMediator>()
                .Send(new GrantCredits.Command($"{prefix}-{n + 1}", amountMicro, "bench funding", "bench"), ct);
            accounts[n] = grant.Value.AccountId;
        });
        return accounts;
    }

    /// <summary>
    /// A phase warms up on its own workload first, then has the ledger tables analyzed and the
    /// connection pools (and with them the cached statement plans) renewed: a running database keeps
    /// its statistics current through autovacuum, and a benchmark that starts from empty tables would
    /// otherwise measure plans chosen when the tables held nothing. Then it measures.
    /// </summary>
    private static async Task<Phase> RunPhaseAsync(LedgerBatcher batcher, Func<Random, Guid> pick, BenchContext context)
    {
        await DriveAsync(batcher, pick, Warmup, TimeSpan.Zero);
        await context.AnalyzeAsync();
        NpgsqlConnection.ClearAllPools();
        return await DriveAsync(batcher, pick, Settle, Measure);
    }

    private static async Task<double> BaselineAsync(string ownerConnectionString, bool hot)
    {
        NpgsqlConnection.ClearAllPools();
        await PgbenchBaseline.RunAsync(ownerConnectionString, hot, Warmup);
        return await PgbenchBaseline.RunAsync(ownerConnectionString, hot, Measure);
    }

    private static async Task<Phase> DriveAsync(LedgerBatcher batcher, Func<Random, Guid> pick, TimeSpan warmup, TimeSpan measure)
    {
        var latencies = new List<double>[Workers];
        var errors = 0L;
        var clock = Stopwatch.StartNew();
        var measureFrom = warmup;
        var measureTo = warmup + measure;
        var tasks = Enumerable.Range(0, Workers).Select(worker => Task.Run(async () =>
        {
            var random = new Random(worker);
            var mine = latencies[worker] = [];
            for (var i = 0; clock.Elapsed < measureTo; i++)
            {
                var account = pick(random);
                var started = clock.Elapsed;
                var reserved = await batcher.ReserveAsync(new ReserveCredits.Command(account, 1000, $"w{worker}-{i}-{Guid.NewGuid():N}"));
                var ok = reserved.IsSuccess && (await batcher.FinalizeAsync(new FinalizeReservation.Command(account, reserved.Value.ReservationId, 600,
                    new Usage(PoolId: "cheap", TokensInput: 100, TokensOutput: 200), "f-" + reserved.Value.ReservationId))).IsSuccess;
                if (started >= measureFrom && clock.Elapsed <= measureTo)
                {
                    if (ok)
                    {
                        mine.Add((clock.Elapsed - started).TotalMilliseconds);
                    }
                    else
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        var all = latencies.SelectMany(l => l).ToList();
        return measure == TimeSpan.Zero ? new Phase(0, 0, 0, errors)
            : new Phase(all.Count / measure.TotalSeconds, Percentiles.Of(all, 50), Percentiles.Of(all, 99), errors);
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private sealed record Phase(double PairsPerSecond, double P50, double P99, long Errors);
}
