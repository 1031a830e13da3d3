using FluentValidation;
using Freeside.Features.Common;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Ledger.Domain;
using MediatR;

namespace Freeside.Features.Ledger;

/// <summary>A platform admin gives a community credits: one grant lot per idempotency key, ever.</summary>
public static class GrantCredits
{
    public sealed record Command(string Slug, long? AmountMicro, string? Reason, string? IdempotencyKey, DateTimeOffset? ExpiresAt = null)
        : ICommand<GrantView>, IMovesCredits;

    public sealed record GrantView(Guid LotId, Guid AccountId, long AmountMicro, string Reason, DateTimeOffset? ExpiresAt, DateTimeOffset CreatedAt, bool Replayed);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator(TimeProvider time)
        {
            RuleFor(c => c.Slug).NotEmpty().MaximumLength(63);
            RuleFor(c => c.AmountMicro).NotNull().InclusiveBetween(1, LedgerLimits.MaxAmountMicro);
            RuleFor(c => c.Reason).NotEmpty().MaximumLength(500);
            RuleFor(c => c.IdempotencyKey).NotEmpty().MaximumLength(200);
            RuleFor(c => c.ExpiresAt).Must(e => e is null || e > time.GetUtcNow()).WithMessage("expires_at must be in the future.");
        }
    }

    internal sealed class Handler(FreesideDb db, LedgerStore store) : IRequestHandler<Command, Result<GrantView>>
    {
        public async Task<Result<GrantView>> Handle(Command request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Slug, cancellationToken);
            if (found.Error is { } notFound)
            {
                return notFound;
            }

            var community = found.Value;

            var accountId = await store.OpenAccountAsync(community.Id, null, cancellationToken);
            var mint = Lot.Mint(Guid.CreateVersion7(), accountId, community.Id, Money.FromMicro(request.AmountMicro!.Value), request.ExpiresAt, store.Now,
                request.Reason);
            // Keys are the admin's own; scoping them to the account keeps two communities' "welcome" apart.
            var (lot, minted) = await store.MintAsync(mint, "grant", $"{accountId:N}:{request.IdempotencyKey}", cancellationToken);
            if (!minted && lot.Original != request.AmountMicro)
            {
                return new IdempotencyKeyReused(request.IdempotencyKey!);
            }

            await store.SaveAsync(cancellationToken);
            return new GrantView(lot.Id, accountId, lot.Original, request.Reason!, lot.ExpiresAt, lot.CreatedAt, Replayed: !minted);
        }
    }
}
