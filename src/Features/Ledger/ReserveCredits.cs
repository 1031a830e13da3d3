using FluentValidation;
using Freeside.Features.Common;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using MediatR;

namespace Freeside.Features.Ledger;

/// <summary>
/// Holds funds before a call whose cost is known only afterwards (pessimistically: the most it can
/// cost). All or nothing across the account's lots, earliest expiry first; the same idempotency key
/// and amount return the same reservation, a different amount is refused.
/// </summary>
public static class ReserveCredits
{
    public sealed record Command(Guid AccountId, long AmountMicro, string IdempotencyKey, string? NftId = null)
        : ICommand<ReservationView>, IMovesCredits, ILedgerOperation
    {
        public Guid RoutingAccountId => AccountId;
    }

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.AccountId).NotEmpty();
            RuleFor(c => c.AmountMicro).InclusiveBetween(0, LedgerLimits.MaxAmountMicro);
            RuleFor(c => c.IdempotencyKey).NotEmpty().MaximumLength(200);
            RuleFor(c => c.NftId).MaximumLength(200);
        }
    }

    internal sealed class Handler(LedgerStore store) : IRequestHandler<Command, Result<ReservationView>>
    {
        public async Task<Result<ReservationView>> Handle(Command request, CancellationToken cancellationToken)
        {
            await store.LoadAsync(LedgerScope.OfAccounts(request.AccountId), [(request.AccountId, request.IdempotencyKey)], [], cancellationToken);
            var result = Decide(store, request);
            await store.SaveAsync(cancellationToken);
            return result;
        }
    }

    /// <summary>Decides one reserve against the loaded rows (also for <see cref="ApplyLedgerBatch"/>).</summary>
    internal static Result<ReservationView> Decide(LedgerStore store, Command request) =>
        store.Account(request.AccountId) is { } account
            ? account.Reserve(Guid.CreateVersion7(), Money.FromMicro(request.AmountMicro), request.IdempotencyKey, request.NftId, store.Now)
            : new NotFound("credit account", request.AccountId.ToString());
}

/// <summary>A ledger movement the per-account batcher may carry in a shared transaction.</summary>
public interface ILedgerOperation
{
    Guid RoutingAccountId { get; }
}

public static class LedgerLimits
{
    /// <summary>10 million USD: far above any single hold or grant, far below overflow in any sum.</summary>
    public const long MaxAmountMicro = 10_000_000L * Common.Money.MicroPerUsd;
}
