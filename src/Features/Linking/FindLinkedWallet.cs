using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Linking;

/// <summary>The wallet a Discord or Telegram user has linked, or none.</summary>
public static class FindLinkedWallet
{
    public sealed record Query(LinkPlatform Platform, string ExternalUserId) : IQuery<View>;

    /// <param name="VerifiedAt">The last /verify or successful re-verification on chain.</param>
    public sealed record View(EthereumAddress? Wallet, DateTimeOffset? LinkedAt, DateTimeOffset? VerifiedAt = null)
    {
        /// <summary>Linked, but not verified for more than <see cref="WalletLink.StaleAfter"/>: the user must re-run /verify.</summary>
        public bool IsStale(DateTimeOffset now) => VerifiedAt is { } verified && WalletLink.IsStale(verified, now);
    }

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Platform).IsInEnum();
            RuleFor(q => q.ExternalUserId).NotEmpty().MaximumLength(64);
        }
    }

    internal sealed class Handler(FreesideDb db) : IRequestHandler<Query, Result<View>>
    {
        public async Task<Result<View>> Handle(Query request, CancellationToken cancellationToken)
        {
            var link = await db.Set<WalletLink>().AsNoTracking()
                .SingleOrDefaultAsync(l => l.Platform == request.Platform && l.ExternalUserId == request.ExternalUserId, cancellationToken);
            return link is null
                ? new View(null, null)
                : new View(EthereumAddress.FromBytes(Convert.FromHexString(link.Wallet.AsSpan(2))), link.LinkedAt, link.VerifiedAt);
        }
    }
}
