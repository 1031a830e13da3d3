using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using MediatR;

namespace Freeside.Features.Ledger;

/// <summary>Returns the whole hold (the call never happened or was refused before any byte). Loses cleanly to a finalize.</summary>
public static class ReleaseReservation
{
    public sealed record Command(Guid AccountId, Guid ReservationId, string Reason) : ICommand<ReservationView>, IMovesCredits, ILedgerOperation
    {
        public Guid RoutingAccountId => AccountId;
    }

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.AccountId).NotEmpty();
            RuleFor(c => c.ReservationId).NotEmpty();
            RuleFor(c => c.Reason).NotEmpty().MaximumLength(500);
        }
    }

    internal sealed class Handler(LedgerStore store) : IRequestHandler<Command, Result<ReservationView>>
    {
        public async Task<Result<ReservationView>> Handle(Command request, CancellationToken cancellationToken)
        {
            await store.LoadAsync(LedgerScope.OfAccounts(request.AccountId), [], [request.ReservationId], cancellationToken);
            var result = Decide(store, request);
            await store.SaveAsync(cancellationToken);
            return result;
        }
    }

    /// <summary>Decides one release against the loaded rows (also for <see cref="ApplyLedgerBatch"/>).</summary>
    internal static Result<ReservationView> Decide(LedgerStore store, Command request) =>
        store.Reservation(request.ReservationId, request.AccountId) is { } reservation
            ? reservation.Release(request.Reason, store.Lots)
            : new NotFound("reservation", request.ReservationId.ToString());
}
