using System.Collections.Concurrent;
using Freeside.Features.Common.Jobs;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freeside.Features.Payments;

/// <summary>Wakes this process's applier when an IPN was stored, so it does not wait for its next sweep.</summary>
public sealed class PaymentEventSignal : WakeSignal;

/// <summary>
/// Applies stored IPNs on every replica: woken by <see cref="PaymentEventSignal"/> after each store, and
/// sweeping every <see cref="Sweep"/> for whatever else is pending (another replica's events whose
/// applier died, a payment that was busy, everything left when this process last stopped). Payments with
/// pending events are applied in parallel, each by one <see cref="ApplyPaymentEvents"/> command that
/// claims the payment with SKIP LOCKED, so one payment's events are applied in order by one worker at a
/// time across all replicas. A payment whose events fail to apply stays pending and is retried with
/// backoff; the failure is logged and counted, never swallowed into "applied".
/// </summary>
public sealed partial class PaymentEventApplier(
    NpgsqlDataSource dataSource, PaymentEventSignal signal, IServiceScopeFactory scopes, PaymentsMetrics metrics, TimeProvider time,
    ILogger<PaymentEventApplier> logger) : BackgroundService
{
    // Few: applying is not what an IPN's sender waits for, and on a small machine the webhook's answers need the cores.
    public const int Parallelism = 4;
    public static readonly TimeSpan Sweep = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(5);
    private readonly ConcurrentDictionary<Guid, (int Failures, DateTimeOffset RetryAt)> _failing = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await QueueWorker.RunAsync(ApplyPendingAsync, signal, Sweep, e => LogRoundFailed(logger, e), stoppingToken);
    }

    /// <summary>One round: every payment with pending events (up to a batch), in parallel; returns how many events were applied.</summary>
    public async Task<int> ApplyPendingAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var payments = (await PendingPaymentsAsync(Parallelism * 32, cancellationToken))
            .Where(id => !_failing.TryGetValue(id, out var failing) || failing.RetryAt <= now).ToList();
        var applied = 0;
        await Parallel.ForEachAsync(payments, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken },
            async (paymentId, ct) => Interlocked.Add(ref applied, await ApplyAsync(paymentId, ct)));
        return applied;
    }

    private async Task<int> ApplyAsync(Guid paymentId, CancellationToken cancellationToken)
    {
        string? failure;
        Exception? exception = null;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var result = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new ApplyPaymentEvents.Command(paymentId), cancellationToken);
            if (result.IsSuccess)
            {
                _failing.TryRemove(paymentId, out _);
                return result.Value.Events;
            }

            failure = result.Error!.Type + ": " + result.Error.Detail;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            failure = e.GetType().Name;
            exception = e;
        }

        var failures = _failing.TryGetValue(paymentId, out var before) ? before.Failures + 1 : 1;
        var backoff = TimeSpan.FromSeconds(Math.Min(MaxBackoff.TotalSeconds, Math.Pow(2, Math.Min(failures, 20))));
        _failing[paymentId] = (failures, time.GetUtcNow() + backoff);
        metrics.ApplyFailed();
        LogApplyFailed(logger, paymentId, failures, failure, backoff.TotalSeconds, exception);
        return 0;
    }

    /// <summary>Payments with pending events, the longest-waiting first.</summary>
    private async Task<List<Guid>> PendingPaymentsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT payment_id FROM webhook_events
            WHERE applied_at IS NULL AND payment_id IS NOT NULL
            GROUP BY payment_id
            ORDER BY min(received_at)
            LIMIT @limit
            """);
        command.Parameters.AddWithValue("limit", limit);
        var ids = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetGuid(0));
        }

        return ids;
    }

    [LoggerMessage(EventId = 9107, Level = LogLevel.Error, Message = "A round of applying stored IPNs failed; the events stay pending")]
    private static partial void LogRoundFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 9108, Level = LogLevel.Error,
        Message = "Applying the stored IPNs of payment {PaymentId} failed ({Failures} in a row: {Failure}); they stay pending, next try in {BackoffSeconds} s")]
    private static partial void LogApplyFailed(ILogger logger, Guid paymentId, int failures, string failure, double backoffSeconds, Exception? exception);
}
