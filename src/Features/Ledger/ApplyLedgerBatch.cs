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
            var reserves = request.Operations.OfType<ReserveCredits.Command>().ToList();
            var settling = request.Operations
                .Select(o => o switch { FinalizeReservation.Command f => f.ReservationId, ReleaseReservation.Command r => r.ReservationId, _ => Guid.Empty })
                .Where(id => id != Guid.Empty).ToList();
            await book.LoadAsync([.. reserves.Select(r => (r.AccountId, r.IdempotencyKey))], settling, cancellationToken);

            // Settlements first: they return funds that the reserves in the same batch may then use.
            var outcomes = new IResultOutcome[request.Operations.Count];
            for (var i = 0; i < outcomes.Length; i++)
            {
                if (request.Operations[i] is FinalizeReservation.Command f)
                {
                    outcomes[i] = book.Finalize(new FinalizeRequest(f.AccountId, f.ReservationId, Money.FromMicro(f.ChargedMicro), f.Usage, f.FinalizationId), metrics);
                }
                else if (request.Operations[i] is ReleaseReservation.Command r)
                {
                    outcomes[i] = book.Release(new ReleaseRequest(r.AccountId, r.ReservationId, Expire: false, r.Reason));
                }
            }

            for (var i = 0; i < outcomes.Length; i++)
            {
                if (request.Operations[i] is ReserveCredits.Command r)
                {
                    outcomes[i] = book.Reserve(new ReserveRequest(r.AccountId, Money.FromMicro(r.AmountMicro), r.IdempotencyKey, r.NftId));
                }
            }

            if (outcomes.Any(o => o is null))
            {
                throw new InvalidOperationException("A batch carried an operation the ledger does not know.");
            }

            await book.FlushAsync(cancellationToken);
            metrics.Batch(request.Operations.Count);
            return outcomes;
        }
    }
}
