using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
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

    internal sealed class Handler(LedgerStore store, LedgerMetrics metrics) : IRequestHandler<Command, Result<IReadOnlyList<IResultOutcome>>>
    {
        public async Task<Result<IReadOnlyList<IResultOutcome>>> Handle(Command request, CancellationToken cancellationToken)
        {
            var reserves = request.Operations.OfType<ReserveCredits.Command>().ToList();
            var settling = request.Operations
                .Select(o => o switch { FinalizeReservation.Command f => f.ReservationId, ReleaseReservation.Command r => r.ReservationId, _ => Guid.Empty })
                .Where(id => id != Guid.Empty).ToList();
            await store.LoadAsync(LedgerScope.OfAccounts([.. request.Operations.Select(o => o.RoutingAccountId)]),
                [.. reserves.Select(r => (r.AccountId, r.IdempotencyKey))], settling, cancellationToken);

            // Settlements first: they return funds that the reserves in the same batch may then use.
            var outcomes = new IResultOutcome[request.Operations.Count];
            for (var i = 0; i < outcomes.Length; i++)
            {
                outcomes[i] = request.Operations[i] switch
                {
                    FinalizeReservation.Command f => FinalizeReservation.Decide(store, metrics, f),
                    ReleaseReservation.Command r => ReleaseReservation.Decide(store, r),
                    _ => null!,
                };
            }

            for (var i = 0; i < outcomes.Length; i++)
            {
                if (request.Operations[i] is ReserveCredits.Command r)
                {
                    outcomes[i] = ReserveCredits.Decide(store, r);
                }
            }

            if (outcomes.Any(o => o is null))
            {
                throw new InvalidOperationException("A batch carried an operation the ledger does not know.");
            }

            await store.SaveAsync(cancellationToken);
            metrics.Batch(request.Operations.Count);
            return await FinalizeReservation.WithAvailableAsync(store, outcomes, cancellationToken);
        }
    }
}
