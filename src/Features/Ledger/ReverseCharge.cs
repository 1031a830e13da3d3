using FluentValidation;
using Freeside.Features.Common;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Ledger.Domain;
using MediatR;

namespace Freeside.Features.Ledger;

/// <summary>
/// Gives back part or all of what a finalized reservation charged (a refund for a failed answer, a
/// goodwill credit): the amount returns to the lots it was charged from, last charged first, with
/// those lots' expiry. Never more than the charge less earlier reversals; once per idempotency key.
/// </summary>
public static class ReverseCharge
{
    public sealed record Command(string Slug, Guid? ReservationId, long? AmountMicro, string? Reason, string? IdempotencyKey)
        : ICommand<ReversalView>, IMovesCredits;

    public sealed record ReversalView(
        Guid ReversalId,
        Guid ReservationId,
        Guid AccountId,
        long AmountMicro,
        long ChargedMicro,
        long ReversedTotalMicro,
        string Reason,
        DateTimeOffset CreatedAt,
        bool Replayed);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Slug).NotEmpty().MaximumLength(63);
            RuleFor(c => c.ReservationId).NotNull().NotEqual(Guid.Empty);
            RuleFor(c => c.AmountMicro).NotNull().InclusiveBetween(1, LedgerLimits.MaxAmountMicro);
            RuleFor(c => c.Reason).NotEmpty().MaximumLength(500);
            RuleFor(c => c.IdempotencyKey).NotEmpty().MaximumLength(200);
        }
    }

    internal sealed class Handler(FreesideDb db, LedgerStore store, LedgerMetrics metrics) : IRequestHandler<Command, Result<ReversalView>>
    {
        public async Task<Result<ReversalView>> Handle(Command request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Slug, cancellationToken);
            if (found.Error is { } notFound)
            {
                return notFound;
            }

            var community = found.Value;

            var reservationId = request.ReservationId!.Value;
            var amount = Money.FromMicro(request.AmountMicro!.Value);
            var (accountId, reservation, history) = await store.LoadReversalAsync(community.Id, reservationId, request.IdempotencyKey!, cancellationToken);
            var replay = history.Replay(request.IdempotencyKey!, reservationId, amount);
            if (reservation is null)
            {
                // A key used before stays refused even when the reservation is not this community's.
                return replay is { IsSuccess: false } refused ? refused.Error! : new NotFound("reservation", reservationId.ToString());
            }

            var result = replay ?? reservation.Reverse(Guid.CreateVersion7(), amount, request.IdempotencyKey!, request.Reason!, history, store.Lots, store.Now);
            if (!result.IsSuccess)
            {
                return result.Error!;
            }

            var replayed = replay is not null;
            if (!replayed)
            {
                await store.SaveAsync(cancellationToken);
                metrics.Reversed(amount.Micro);
            }

            var reversal = result.Value;
            return new ReversalView(reversal.Id, reservation.Id, accountId!.Value, reversal.Amount.Micro, reservation.Charged?.Micro ?? 0,
                history.ReversedTotalOf(reservation.Id).Micro, reversal.Reason, reversal.CreatedAt, replayed);
        }
    }
}

/// <summary>The reservation has no charge to give back: it is pending, released or expired.</summary>
public sealed record ReservationNotCharged(Guid ReservationId, ReservationStatus Status)
    : Error(ErrorKind.Conflict, "reservation-not-charged", "Only a finalized reservation's charge can be reversed.",
        $"Reservation {ReservationId} is {Status.Name()}; nothing was charged.");

/// <summary>A reversal larger than what is left of the charge.</summary>
public sealed record ReversalExceedsCharge(Guid ReservationId, long RequestedMicro, long ReversibleMicro)
    : Error(ErrorKind.Conflict, "reversal-exceeds-charge", "The reversal is larger than what is left of the charge.",
        $"Reservation {ReservationId} has {ReversibleMicro} micro-USD left to reverse; {RequestedMicro} were asked.");
