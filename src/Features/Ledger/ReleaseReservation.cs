using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
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

    internal sealed class Handler(FreesideDb db, TouchedAccounts touched, LedgerTouches touches, TimeProvider time)
        : IRequestHandler<Command, Result<ReservationView>>
    {
        public async Task<Result<ReservationView>> Handle(Command request, CancellationToken cancellationToken)
        {
            var book = new LedgerBook(db, touched, touches, time);
            await book.LoadAsync([], [request.ReservationId], cancellationToken);
            var result = book.Release(new ReleaseRequest(request.AccountId, request.ReservationId, Expire: false, request.Reason));
            await book.FlushAsync(cancellationToken);
            return result;
        }
    }
}
