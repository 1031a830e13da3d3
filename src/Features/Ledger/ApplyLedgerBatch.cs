using FluentValidation;
using Freeside.Features.Common;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;

namespace Freeside.Features.Ledger;

/// <summary>
/// Several reserve/finalize/release operations for one account in one transaction, so a hot account
/// pays for its lot lock and commit once per batch instead of once per call. Each operation keeps its
/// own outcome; an expected failure of one (insufficient credits, a settled reservation) writes nothing
/// and does not affect the others. Sent by <see cref="LedgerBatcher"/>.
/// </summary>
public static class ApplyLedgerBatch
{
    public const int MaxOperations = 128;

    public sealed record Command(IReadOnlyList<ILedgerOperation> Operations) : ICommand<IReadOnlyList<IResultOutcome>>, IMovesCredits;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Operations).NotEmpty().Must(o => o.Count <= MaxOperations)
                .WithMessage($"operations must hold 1 to {MaxOperations} items.");
            RuleForEach(c => c.Operations).SetInheritanceValidator(v => v
                .Add(new ReserveCredits.Validator())
                .Add(new FinalizeReservation.Validator())
                .Add(new ReleaseReservation.Validator()));
        }
    }

    internal sealed class Handler(FreesideDb db, TouchedAccounts touched, LedgerTouches touches, TimeProvider time, LedgerMetrics metrics)
        : IRequestHandler<Command, Result<IReadOnlyList<IResultOutcome>>>
    {
        public async Task<Result<IReadOnlyList<IResultOutcome>>> Handle(Command request, CancellationToken cancellationToken)
        {
            var book = new LedgerBook(db, touched, touches, time);
            await book.EnterAsync(cancellationToken);
            var settling = request.Operations
                .Select(o => o switch { FinalizeReservation.Command f => f.ReservationId, ReleaseReservation.Command r => r.ReservationId, _ => Guid.Empty })
                .Where(id => id != Guid.Empty).Distinct().Order().ToArray();
            await book.LockReservationsAsync(settling, cancellationToken);
            await book.PrefetchLotsAsync(
                [.. request.Operations.OfType<ReserveCredits.Command>().Select(r => r.AccountId)], settling, cancellationToken);

            // Settlements first: they return funds that the reserves in the same batch may then use.
            var outcomes = new IResultOutcome[request.Operations.Count];
            var finalizes = Indexed<FinalizeReservation.Command>(request.Operations);
            var finalized = await book.FinalizeManyAsync(
                [.. finalizes.Select(f => new FinalizeRequest(f.Item.AccountId, f.Item.ReservationId, Money.FromMicro(f.Item.ChargedMicro), f.Item.Usage, f.Item.FinalizationId))],
                metrics, cancellationToken);
            Scatter(outcomes, finalizes, finalized);
            var releases = Indexed<ReleaseReservation.Command>(request.Operations);
            var released = await book.ReleaseManyAsync(
                [.. releases.Select(r => new ReleaseRequest(r.Item.AccountId, r.Item.ReservationId, Expire: false, r.Item.Reason))], cancellationToken);
            Scatter(outcomes, releases, released);
            var reserves = Indexed<ReserveCredits.Command>(request.Operations);
            var reserved = await book.ReserveManyAsync(
                [.. reserves.Select(r => new ReserveRequest(r.Item.AccountId, Money.FromMicro(r.Item.AmountMicro), r.Item.IdempotencyKey, r.Item.NftId))], cancellationToken);
            Scatter(outcomes, reserves, reserved);
            if (outcomes.Any(o => o is null))
            {
                throw new InvalidOperationException("A batch carried an operation the ledger does not know.");
            }

            await book.FlushAsync(cancellationToken);
            metrics.Batch(request.Operations.Count);
            return outcomes;
        }

        private static List<(int Index, T Item)> Indexed<T>(IReadOnlyList<ILedgerOperation> operations) =>
            [.. operations.Select((o, i) => (Index: i, Operation: o)).Where(p => p.Operation is T).Select(p => (p.Index, (T)p.Operation))];

        private static void Scatter<T, TResult>(IResultOutcome[] outcomes, List<(int Index, T Item)> items, IReadOnlyList<Result<TResult>> results)
        {
            for (var i = 0; i < items.Count; i++)
            {
                outcomes[items[i].Index] = results[i];
            }
        }
    }
}
