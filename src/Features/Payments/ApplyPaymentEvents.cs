using System.Text;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Payments.Domain;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Freeside.Features.Payments;

/// <summary>
/// Applies one payment's pending IPNs (stored by <see cref="ReceiveIpn"/>) in the order they arrived,
/// through the same transition as before the inbox existed: <see cref="Payment.Receive"/> decides, a
/// finished payment mints its lot once, a refund after finished takes the credits back. Each event is
/// marked applied, with what it did, in the same transaction as its effect, under the conservation guard.
/// The payment row is claimed with SKIP LOCKED: if another transaction holds it (another replica's
/// applier, a reconciliation) this returns at once as busy and the events wait for the next round,
/// so one payment's events are never applied by two workers at once and nobody queues on its lock.
/// </summary>
public static class ApplyPaymentEvents
{
    public sealed record Command(Guid PaymentId) : ICommand<Applied>, IMovesCredits;

    /// <param name="Events">How many pending events were applied.</param>
    /// <param name="Busy">Another transaction held the payment; nothing was done.</param>
    public sealed record Applied(int Events, bool Busy);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.PaymentId).NotEmpty();
    }

    internal sealed class Handler(FreesideDb db, PaymentTransitions transitions, PaymentsMetrics metrics, TimeProvider time)
        : IRequestHandler<Command, Result<Applied>>
    {
        public async Task<Result<Applied>> Handle(Command request, CancellationToken cancellationToken)
        {
            // No wait for the WAL flush at this commit: the effect and its events' marks commit or vanish together,
            // and a lost commit (a crash within the WAL writer's delay) leaves the events pending to be applied
            // again. Anything that builds on the effect durably (a reservation of the minted credits, a notice
            // claimed) flushes it with its own commit, since the log is flushed in order. The webhook's commit,
            // which the 200 promises, stays synchronous.
            await db.Database.ExecuteSqlAsync($"SET LOCAL synchronous_commit = off", cancellationToken);
            var payment = await transitions.TryLockAsync(request.PaymentId, cancellationToken);
            if (payment is null)
            {
                return new Applied(0, Busy: true);
            }

            // Arrival order, as the synchronous webhook applied them: the state machine only moves forward,
            // so the end state is the same in any order, and a refund that came before its finished still
            // mints nothing.
            var pending = await PendingAsync(payment.Id, cancellationToken);
            if (pending.Count == 0)
            {
                return new Applied(0, Busy: false);
            }

            var now = time.GetUtcNow();
            var ids = new Guid[pending.Count];
            var outcomes = new string[pending.Count];
            for (var i = 0; i < pending.Count; i++)
            {
                var stored = pending[i];
                var effect = PaymentEffect.Ignored;
                // The webhook stored only parsable bodies with a known status; anything else is settled as ignored.
                if (PaymentStatuses.FromWire(stored.Status) is { } status && ReceiveIpn.Parse(Encoding.UTF8.GetBytes(stored.Body)) is { IsSuccess: true } parsed)
                {
                    var ipn = parsed.Value;
                    effect = await transitions.ApplyAsync(payment, status, new ProviderFacts(ipn.ProviderPaymentId, ipn.PayCurrency, ipn.ActuallyPaid),
                        cancellationToken);
                }

                ids[i] = stored.Id;
                outcomes[i] = effect == PaymentEffect.Ignored ? "ignored" : "applied";
                metrics.Applied(outcomes[i], now - stored.ReceivedAt);
            }

            await db.Database.ExecuteSqlAsync($"""
                UPDATE webhook_events e SET applied_at = {now}, outcome = v.outcome
                FROM unnest({ids}, {outcomes}) AS v(id, outcome)
                WHERE e.id = v.id
                """, cancellationToken);
            return new Applied(pending.Count, Busy: false);
        }

        private async Task<List<PendingEvent>> PendingAsync(Guid paymentId, CancellationToken cancellationToken)
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.Transaction = db.Database.CurrentTransaction!.GetDbTransaction();
            command.CommandText = """
                SELECT id, status, body, received_at FROM webhook_events
                WHERE payment_id = @payment AND applied_at IS NULL
                ORDER BY received_at, id
                """;
            command.Parameters.Add(new NpgsqlParameter("payment", paymentId));
            var pending = new List<PendingEvent>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                pending.Add(new PendingEvent(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3)));
            }

            return pending;
        }
    }

    private sealed record PendingEvent(Guid Id, string Status, string Body, DateTimeOffset ReceivedAt);
}
