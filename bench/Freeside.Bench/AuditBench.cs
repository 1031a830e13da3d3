using System.Diagnostics;
using System.Security.Cryptography;
using Freeside.Features.Admin;
using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using MediatR;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freeside.Bench;

/// <summary>
/// The community admin's audit export and usage view at scale (issue 13): one community with
/// 1,000,000 ledger entries (1,000 lots, each a mint then holds and releases) and 1,000,000 usage
/// events (finalized reservations of 1,000 wallets over 30 days), written with set-based SQL. The
/// export runs through the real handler into a stream that counts rows and drops the bytes; the
/// process's peak RSS (VmHWM) is read afterwards — the seeding runs in PostgreSQL, not here. Then the
/// usage view (period=month) is asked 50 times in a row. Through the MediatR pipeline, not HTTP.
/// </summary>
public static class AuditBench
{
    private const int Lots = 1_000;
    private const int EntriesPerLot = 1_000;
    private const int UsageEvents = 1_000_000;
    private const int UsageRuns = 50;

    public static async Task<BenchReport> RunAsync(BenchContext context)
    {
        await using var services = Services(context.AppConnectionString, context.OwnerConnectionString);
        var account = (await LedgerBench.FundAsync(services, context.OwnerConnectionString, 1, 1_000_000_000))[0];
        var slug = await SeedAsync(context.OwnerConnectionString, account);

        var rssBeforeExportMb = StatusMb("VmRSS:");
        var peakBeforeExportMb = StatusMb("VmHWM:");
        var rows = new CountingStream();
        var started = Stopwatch.StartNew();
        await using (var scope = services.CreateAsyncScope())
        {
            var export = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new ExportAudit.Query(slug, "jsonl", null, null, null));
            await export.Value.WriteAsync(rows, CancellationToken.None);
        }

        var exportElapsed = started.Elapsed;
        var peakRssMb = StatusMb("VmHWM:");

        var latencies = new List<double>();
        long total = 0;
        for (var i = 0; i < UsageRuns; i++)
        {
            await using var scope = services.CreateAsyncScope();
            var one = Stopwatch.StartNew();
            var usage = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new GetUsage.Query(slug, "month", null));
            latencies.Add(one.Elapsed.TotalMilliseconds);
            total = usage.Value.Calls;
        }

        var report = new BenchReport("audit");
        report.Parameters["ledger_entries"] = Lots * EntriesPerLot;
        report.Parameters["usage_events"] = UsageEvents;
        report.Parameters["usage_runs"] = UsageRuns;
        report.Parameters["load_average_after"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        report.Parameters["workload"] = "export: ExportAudit handler (jsonl) into a counting stream; usage: GetUsage period=month, sequential; both through the MediatR pipeline";
        report.Parameters["rss_before_export_mb"] = Math.Round(rssBeforeExportMb, 1);
        report.Parameters["peak_rss_before_export_mb"] = Math.Round(peakBeforeExportMb, 1);
        report.Parameters["gc"] = System.Runtime.GCSettings.IsServerGC ? "server" : "workstation";
        // build.sh runs this bench under Freeside.Web.runtimeconfig.json (the host's settings), as the export's process stands in for the host's.
        report.Parameters["gen0_max_budget"] = AppContext.GetData("System.GC.Gen0MaxBudget")?.ToString() ?? "runtime default";
        report.Parameters["usage_ms_in_call_order"] = latencies.Select(l => Math.Round(l, 1)).ToList();
        report.Add("export_rows", rows.Lines, Lots * EntriesPerLot)
            .Add("export_rows_per_s", rows.Lines / exportElapsed.TotalSeconds, 200_000)
            .Add("export_peak_rss_mb", peakRssMb, 150, higherIsBetter: false)
            .Add("usage_calls_in_month", total)
            .Add("usage_p50_ms", Percentiles.Of(latencies, 50))
            .Add("usage_p99_ms", Percentiles.Of(latencies, 99), 100, higherIsBetter: false);
        return report;
    }

    private static async Task<string> SeedAsync(string ownerConnectionString, Guid account)
    {
        await using var connection = new NpgsqlConnection(ownerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT set_config('freeside.community_id', '*', false);
            CREATE TEMP TABLE bench_lots AS
                SELECT gen_random_uuid() AS id, n FROM generate_series(1, @lots) n;
            INSERT INTO credit_lots (id, account_id, community_id, source, source_ref, original, available, reserved, consumed, expired, taken_back, entry_seq, created_at)
            SELECT l.id, a.id, a.community_id, 'grant', 'bench-audit-' || l.n, 1000000, 999999, 1, 0, 0, 0, @per, now() - interval '31 days'
            FROM bench_lots l CROSS JOIN credit_accounts a WHERE a.id = @account;
            -- seq 1 mints; then holds (even seq) and releases (odd seq) of 1 micro-USD each.
            INSERT INTO ledger_entries (account_id, community_id, lot_id, lot_seq, kind, amount, available_after, reserved_after, consumed_after, expired_after, taken_back_after, created_at)
            SELECT a.id, a.community_id, l.id, s,
                   CASE WHEN s = 1 THEN 'mint' WHEN s % 2 = 0 THEN 'hold' ELSE 'release' END,
                   CASE WHEN s = 1 THEN 1000000 ELSE 1 END,
                   CASE WHEN s % 2 = 0 THEN 999999 ELSE 1000000 END,
                   CASE WHEN s % 2 = 0 THEN 1 ELSE 0 END, 0, 0, 0,
                   now() - interval '31 days' + (l.n * @per + s) * interval '1 millisecond'
            FROM bench_lots l CROSS JOIN credit_accounts a CROSS JOIN generate_series(1, @per) s WHERE a.id = @account
            ORDER BY l.n, s;
            CREATE TEMP TABLE bench_reservations AS
                SELECT gen_random_uuid() AS id, n, now() - (n % 43200) * interval '1 minute' AS at FROM generate_series(1, @events) n;
            INSERT INTO credit_reservations (id, account_id, community_id, idempotency_key, held, hold_lots, hold_amounts, status, charged, finalization_id, nft_id, created_at, settled_at)
            SELECT r.id, a.id, a.community_id, 'bench-' || r.n, 10, ARRAY[(SELECT id FROM bench_lots WHERE n = 1)], ARRAY[10::bigint], 'finalized', 7,
                   'bench-fin-' || r.n, 'nft/' || (r.n % 5000), r.at, r.at
            FROM bench_reservations r CROSS JOIN credit_accounts a WHERE a.id = @account;
            -- Chat records the wallet when it reserves, before the usage event (the rollup trigger reads it).
            INSERT INTO reservation_wallets (reservation_id, community_id, wallet, created_at)
            SELECT r.id, a.community_id, '0x' || lpad(to_hex(r.n % 1000), 40, '0'), r.at
            FROM bench_reservations r CROSS JOIN credit_accounts a WHERE a.id = @account;
            INSERT INTO usage_events (id, account_id, community_id, nft_id, pool_id, tokens_input, tokens_output, amount_micro, requested_micro, reservation_id,
                                      finalization_id, billing_method, accounting_mode, conservation_guard_result, created_at)
            SELECT gen_random_uuid(), a.id, a.community_id, 'nft/' || (r.n % 5000), (ARRAY['cheap', 'fast-code', 'reviewer'])[1 + r.n % 3], 10, 20, 7, 7, r.id,
                   'bench-fin-' || r.n, 'reported', 'standard', true, r.at
            FROM bench_reservations r CROSS JOIN credit_accounts a WHERE a.id = @account;
            ANALYZE credit_lots; ANALYZE ledger_entries; ANALYZE credit_reservations; ANALYZE usage_events; ANALYZE reservation_wallets; ANALYZE usage_hour_rollups; ANALYZE usage_wallet_month_rollups;
            SELECT c.slug FROM communities c JOIN credit_accounts a ON a.community_id = c.id WHERE a.id = @account;
            """, connection) { CommandTimeout = 1800 };
        command.Parameters.AddWithValue("lots", Lots);
        command.Parameters.AddWithValue("per", EntriesPerLot);
        command.Parameters.AddWithValue("events", UsageEvents);
        command.Parameters.AddWithValue("account", account);
        await using var reader = await command.ExecuteReaderAsync();
        string? slug = null;
        do
        {
            while (await reader.ReadAsync())
            {
                if (reader.FieldCount == 1 && reader.GetFieldType(0) == typeof(string) && reader.GetName(0) == "slug")
                {
                    slug = reader.GetString(0);
                }
            }
        }
        while (await reader.NextResultAsync());

        return slug ?? throw new InvalidOperationException("the bench community was not seeded");
    }

    /// <summary>A memory figure of this process from /proc/self/status (VmRSS now, VmHWM the peak so far), in MB.</summary>
    private static double StatusMb(string field)
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
        return line is null ? double.NaN : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
    }

    /// <summary>Drops what it is given and counts the lines.</summary>
    private sealed class CountingStream : Stream
    {
        public long Lines { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Count(buffer.AsSpan(offset, count));

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Count(buffer.Span);
            return ValueTask.CompletedTask;
        }

        private void Count(ReadOnlySpan<byte> bytes) => Lines += System.MemoryExtensions.Count(bytes, (byte)'\n');
    }

    private static ServiceProvider Services(string appConnectionString, string ownerConnectionString)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DATABASE_URL"] = appConnectionString,
            ["DATABASE_MIGRATION_URL"] = ownerConnectionString,
            ["FREESIDE_ADMIN_TOKEN"] = "bench-admin-token-0123456789abcdef",
            ["FREESIDE_KEY_ENCRYPTION_KEY"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
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
}
