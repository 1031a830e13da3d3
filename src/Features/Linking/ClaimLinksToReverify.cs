using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Linking;

/// <summary>
/// The next page of a platform's links due for re-verification: not verified for <see cref="WalletLink.ReverifyEvery"/>
/// and not looked at for <see cref="RetryEvery"/>. Claimed rows are marked checked in the same statement
/// (<c>FOR UPDATE SKIP LOCKED</c>), so two replicas — or two pages of one run — never take the same link,
/// and a link the chain could not answer for waits an hour instead of being retried in a loop.
/// </summary>
public static class ClaimLinksToReverify
{
    public static readonly TimeSpan RetryEvery = TimeSpan.FromMinutes(55);

    public sealed record Command(LinkPlatform Platform, int Limit = 100) : ICommand<IReadOnlyList<Claimed>>;

    public sealed record Claimed(string ExternalUserId, string Wallet, DateTimeOffset VerifiedAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Platform).IsInEnum();
            RuleFor(c => c.Limit).InclusiveBetween(1, 1000);
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<IReadOnlyList<Claimed>>>
    {
        public async Task<Result<IReadOnlyList<Claimed>>> Handle(Command request, CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow();
            var due = now - WalletLink.ReverifyEvery;
            var retry = now - RetryEvery;
            var platform = request.Platform.ToWire();
            // Not composable (an UPDATE … RETURNING), so read as it is: no LINQ operator after FromSql.
            var claimed = await db.Set<WalletLink>().FromSql($"""
                UPDATE wallet_links l SET checked_at = {now}
                FROM (SELECT platform, external_user_id FROM wallet_links
                      WHERE platform = {platform} AND verified_at < {due} AND (checked_at IS NULL OR checked_at < {retry})
                      ORDER BY verified_at LIMIT {request.Limit}
                      FOR UPDATE SKIP LOCKED) d
                WHERE l.platform = d.platform AND l.external_user_id = d.external_user_id
                RETURNING l.*
                """).AsNoTracking().ToListAsync(cancellationToken);
            return claimed.Select(l => new Claimed(l.ExternalUserId, l.Wallet, l.VerifiedAt)).ToList();
        }
    }
}
