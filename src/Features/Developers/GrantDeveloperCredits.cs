using FluentValidation;
using Freeside.Features.Common;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Ledger;
using Freeside.Features.Ledger.Domain;
using MediatR;

namespace Freeside.Features.Developers;

/// <summary>The platform admin gives a developer's account credits: one grant lot per idempotency key, ever.</summary>
public static class GrantDeveloperCredits
{
    public sealed record Command(EthereumAddress Wallet, long? AmountMicro, string? Reason, string? IdempotencyKey) : ICommand<View>, IMovesCredits;

    public sealed record View(Guid LotId, Guid AccountId, long AmountMicro, string Reason, DateTimeOffset CreatedAt, bool Replayed);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.AmountMicro).NotNull().InclusiveBetween(1, LedgerLimits.MaxAmountMicro);
            RuleFor(c => c.Reason).NotEmpty().MaximumLength(500);
            RuleFor(c => c.IdempotencyKey).NotEmpty().MaximumLength(200);
        }
    }

    internal sealed class Handler(FreesideDb db, LedgerStore store, TimeProvider time) : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            var developer = await DeveloperAccounts.EnsureLockedAsync(db, request.Wallet, time.GetUtcNow(), cancellationToken);
            var accountId = await store.OpenAccountAsync(null, developer.Id, cancellationToken);
            await db.EnterPlatformScopeAsync(cancellationToken);
            var mint = Lot.Mint(Guid.CreateVersion7(), accountId, null, Money.FromMicro(request.AmountMicro!.Value), null, store.Now, request.Reason);
            var (lot, minted) = await store.MintAsync(mint, "grant", $"{accountId:N}:{request.IdempotencyKey}", cancellationToken);
            if (!minted && lot.Original != request.AmountMicro)
            {
                return new IdempotencyKeyReused(request.IdempotencyKey!);
            }

            await store.SaveAsync(cancellationToken);
            return new View(lot.Id, accountId, lot.Original, request.Reason!, lot.CreatedAt, Replayed: !minted);
        }
    }
}
