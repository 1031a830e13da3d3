using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Ledger;
using Freeside.Features.Payments;
using MediatR;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freeside.Bench;

/// <summary>
/// IPN ingest: 1,000 waiting payments, each sent waiting → confirming → confirmed → sending → finished
/// with every IPN twice, the per-payment order shuffled and payments interleaved; 64 senders push
/// signed bodies through the real pipeline (signature check, match, store in webhook_events, commit).
/// Not over HTTP: Kestrel and routing are not what is measured. The applier runs meanwhile, as in the
/// service (row lock, state machine, mint under the conservation guard); the answer rate and latency
/// are the webhook's, and the run then waits until every stored IPN is applied (applied_all_seconds,
/// from the first send; apply_delay_* from each IPN's receipt to its applying transaction). Afterwards every payment must be finished with exactly one lot of its
/// credits, and the audit clean.
/// </summary>
public static class PaymentsBench
{
    private const int Senders = 64;
    private const int Payments = 1000;
    private const int WarmupPayments = 200;
    private const long CreditsMicro = 10_500_000;
    private const string Secret = "bench-ipn-secret-0123456789abcdef";
    private static readonly string[] Statuses = ["waiting", "confirming", "confirmed", "sending", "finished"];

    public static async Task<BenchReport> RunAsync(BenchContext context)
    {
        await using var services = Services(context.AppConnectionString, context.OwnerConnectionString);
        // The hosted applier, started by hand: this bench builds the services without a host.
        var applier = services.GetRequiredService<PaymentEventApplier>();
        await applier.StartAsync(CancellationToken.None);
        var accounts = await LedgerBench.FundAsync(services, context.OwnerConnectionString, Payments + WarmupPayments, 1);
        var orders = await InsertPaymentsAsync(context.OwnerConnectionString, accounts);

        var random = new Random(20261124);
        // Warm-up on payments of its own, until the applier has caught up: JIT tiering, connection pools and
        // statement plans settle first, as they have in a running service. Only the rest is measured.
        await SendAllAsync(services, Interleave(orders[..WarmupPayments], 0, random), null, null);
        await DrainAsync(context.OwnerConnectionString, TimeSpan.FromMinutes(5));

        var work = Interleave(orders[WarmupPayments..], WarmupPayments, random);
        var total = work.Count;
        var latencies = new ConcurrentBag<double>();
        var byKind = new ConcurrentDictionary<string, ConcurrentBag<double>>();
        var measuredFrom = DateTimeOffset.UtcNow;
        var started = Stopwatch.StartNew();
        var errors = await SendAllAsync(services, work, latencies, byKind);
        var elapsed = started.Elapsed;
        var pendingAtLastAnswer = await PendingAsync(context.OwnerConnectionString);
        var drained = await DrainAsync(context.OwnerConnectionString, TimeSpan.FromMinutes(5));
        var appliedAll = started.Elapsed;
        await applier.StopAsync(CancellationToken.None);

        var (finished, lots, credited) = await OutcomeAsync(context.OwnerConnectionString);
        var (delayP50, delayP99) = await ApplyDelayAsync(context.OwnerConnectionString, measuredFrom);
        await using var auditScope = services.CreateAsyncScope();
        var audit = await auditScope.ServiceProvider.GetRequiredService<IMediator>().Send(new AuditConservation.Command(null));
        var samples = latencies.ToList();
        var report = new BenchReport("payments");
        report.Parameters["senders"] = Senders;
        report.Parameters["payments"] = Payments;
        report.Parameters["ipns"] = total;
        report.Parameters["warmup"] = $"{WarmupPayments} payments of their own ({WarmupPayments * Statuses.Length * 2} IPNs) through the same path, applied, before the measured ones; not in the figures, in the credit check";
        foreach (var (kind, bag) in byKind.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            var list = bag.ToList();
            report.Parameters["latency_" + kind] = $"n={list.Count} p50={Percentiles.Of(list, 50):F1} ms p99={Percentiles.Of(list, 99):F1} ms";
        }

        report.Parameters["workload"] = "5 statuses per payment, each sent twice, shuffled per payment, payments interleaved; through the MediatR pipeline (not HTTP); the applier running alongside";
        report.Parameters["pending_at_last_answer"] = pendingAtLastAnswer;
        report.Parameters["applier_parallelism"] = PaymentEventApplier.Parallelism;
        report.Add("ipn_per_s", total / elapsed.TotalSeconds, 1000)
            .Add("p50_ms", Percentiles.Of(samples, 50))
            .Add("p99_ms", Percentiles.Of(samples, 99), 100, higherIsBetter: false)
            .Add("errors", errors, 0, higherIsBetter: false)
            .Add("applied_all_seconds", appliedAll.TotalSeconds)
            .Add("apply_delay_p50_s", delayP50)
            .Add("apply_delay_p99_s", delayP99)
            .Add("all_applied", drained ? 1 : 0, 1)
            .Add("credits_exact", finished == Payments + WarmupPayments && lots == Payments + WarmupPayments
                && credited == (Payments + WarmupPayments) * CreditsMicro ? 1 : 0, 1)
            .Add("audit_ok", audit.IsSuccess && audit.Value.Status == "ok" ? 1 : 0, 1);
        return report;
    }

    /// <summary>Each payment's IPNs (every status twice, shuffled), payments interleaved: the next IPN of a random payment that still has some.</summary>
    private static ConcurrentQueue<string> Interleave(List<string> orders, int firstIndex, Random random)
    {
        var perPayment = orders.Select((order, n) => new Queue<string>(Statuses.SelectMany(s => new[] { s, s }).OrderBy(_ => random.Next())
            .Select(status => Body(order, status, 7_000_000_000L + firstIndex + n)))).ToList();
        var work = new ConcurrentQueue<string>();
        var open = Enumerable.Range(0, orders.Count).ToList();
        while (open.Count > 0)
        {
            var pick = random.Next(open.Count);
            work.Enqueue(perPayment[open[pick]].Dequeue());
            if (perPayment[open[pick]].Count == 0)
            {
                open.RemoveAt(pick);
            }
        }

        return work;
    }

    /// <summary>64 senders drain <paramref name="work"/> through the pipeline; returns the errors, recording latencies when asked.</summary>
    private static async Task<long> SendAllAsync(ServiceProvider services, ConcurrentQueue<string> work, ConcurrentBag<double>? latencies,
        ConcurrentDictionary<string, ConcurrentBag<double>>? byKind)
    {
        var errors = 0L;
        await Task.WhenAll(Enumerable.Range(0, Senders).Select(_ => Task.Run(async () =>
        {
            while (work.TryDequeue(out var body))
            {
                var bytes = Encoding.UTF8.GetBytes(body);
                var signature = Convert.ToHexStringLower(HMACSHA512.HashData(Encoding.UTF8.GetBytes(Secret), bytes));
                var one = Stopwatch.StartNew();
                await using var scope = services.CreateAsyncScope();
                var result = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new ReceiveIpn.Command(bytes, signature));
                latencies?.Add(one.Elapsed.TotalMilliseconds);
                var kind = result.IsSuccess ? result.Value.Result + (result.Value.Result == "stored" ? ":" + result.Value.Status : "") : "error";
                byKind?.GetOrAdd(kind, _ => []).Add(one.Elapsed.TotalMilliseconds);
                if (!result.IsSuccess)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })));
        return errors;
    }

    /// <summary>From each stored IPN's receipt to the applier's transaction that applied it, in seconds.</summary>
    private static async Task<(double P50, double P99)> ApplyDelayAsync(string ownerConnectionString, DateTimeOffset from)
    {
        await using var connection = new NpgsqlConnection(ownerConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("""
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.99) WITHIN GROUP (ORDER BY d)
            FROM (SELECT extract(epoch FROM applied_at - received_at)::float8 AS d FROM webhook_events WHERE outcome IN ('applied', 'ignored') AND received_at >= @from) e
            """, connection);
        query.Parameters.AddWithValue("from", from);
        await using var reader = await query.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.IsDBNull(0) ? 0 : reader.GetDouble(0), reader.IsDBNull(1) ? 0 : reader.GetDouble(1));
    }

    private static async Task<long> PendingAsync(string ownerConnectionString)
    {
        await using var connection = new NpgsqlConnection(ownerConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT count(*) FROM webhook_events WHERE applied_at IS NULL", connection);
        return (long)(await query.ExecuteScalarAsync())!;
    }

    /// <summary>Waits until the applier has applied every stored IPN; false if that took longer than <paramref name="limit"/>.</summary>
    private static async Task<bool> DrainAsync(string ownerConnectionString, TimeSpan limit)
    {
        var waited = Stopwatch.StartNew();
        while (await PendingAsync(ownerConnectionString) > 0)
        {
            if (waited.Elapsed > limit)
            {
                return false;
            }

            await Task.Delay(50);
        }

        return true;
    }

    private static string Body(string orderId, string status, long providerPaymentId) =>
        $$"""{"actually_paid":0.00021,"invoice_id":null,"order_id":"{{orderId}}","pay_currency":"btc","payment_id":{{providerPaymentId}},"payment_status":"{{status}}","price_amount":10,"price_currency":"usd"}""";

    private static async Task<List<string>> InsertPaymentsAsync(string ownerConnectionString, Guid[] accounts)
    {
        await using var connection = new NpgsqlConnection(ownerConnectionString);
        await connection.OpenAsync();
        await using var insert = new NpgsqlCommand("""
            INSERT INTO payments (id, order_id, account_id, community_id, payer, pack_id, price_micro, credits_micro, status, created_at, updated_at)
            SELECT gen_random_uuid(), 'bench-' || a.id, a.id, a.community_id, '0x' || repeat('b', 40), 'standard', 10000000, @credits, 'waiting', now(), now()
            FROM credit_accounts a WHERE a.id = ANY(@accounts)
            RETURNING order_id
            """, connection);
        insert.Parameters.AddWithValue("credits", CreditsMicro);
        insert.Parameters.AddWithValue("accounts", accounts);
        var orders = new List<string>();
        await using var reader = await insert.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            orders.Add(reader.GetString(0));
        }

        return orders;
    }

    private static async Task<(long Finished, long Lots, long Credited)> OutcomeAsync(string ownerConnectionString)
    {
        await using var connection = new NpgsqlConnection(ownerConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM payments WHERE status = 'finished' AND order_id LIKE 'bench-%'),
                   (SELECT count(*) FROM credit_lots WHERE source = 'purchase'),
                   (SELECT coalesce(sum(original), 0)::bigint FROM credit_lots WHERE source = 'purchase')
            """, connection);
        await using var reader = await query.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
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
            ["NOWPAYMENTS_IPN_SECRET"] = Secret,
            ["NOWPAYMENTS_API_KEY"] = "bench-api-key",
        }).Build();
        var loaded = FreesideSettings.Load(configuration, isDevelopment: false);
        var settings = loaded.Settings ?? throw new InvalidOperationException(string.Join("; ", loaded.Errors));
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddFreesideFeatures(settings, configuration);
        return services.BuildServiceProvider();
    }
}
