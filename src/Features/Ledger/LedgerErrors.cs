using Freeside.Features.Common.Errors;
using Freeside.Features.Ledger.Domain;

namespace Freeside.Features.Ledger;

public sealed record InsufficientCredits(long RequestedMicro, long AvailableMicro)
    : Error(ErrorKind.PaymentRequired, "insufficient-credits", "Not enough credits.",
        $"The request needs {RequestedMicro} micro-USD but only {AvailableMicro} are available.");

/// <summary>An idempotency key came back with a different amount: a client bug, never a retry.</summary>
public sealed record IdempotencyKeyReused(string Key)
    : Error(ErrorKind.Conflict, "idempotency-key-reused", "The idempotency key was used for a different request.",
        $"The idempotency key '{Key}' was already used with a different amount.");

public sealed record ReservationSettled(Guid ReservationId, ReservationStatus Status)
    : Error(ErrorKind.Conflict, "reservation-settled", "The reservation is already settled.",
        $"Reservation {ReservationId} is already {Status.Name()}.");

public sealed record FinalizationIdReused(string FinalizationId)
    : Error(ErrorKind.Conflict, "finalization-id-reused", "The finalization id belongs to another reservation.",
        $"The finalization id '{FinalizationId}' already finalized another reservation.");

/// <summary>A refund took back more than the account had left; a purchase must repay the debt before anything is reserved.</summary>
public sealed record AccountInDebt(long DebtMicro)
    : Error(ErrorKind.PaymentRequired, "account-in-debt", "The account is in debt.",
        $"A refund left a debt of {DebtMicro} micro-USD; the next purchase repays it before credits can be reserved.");
