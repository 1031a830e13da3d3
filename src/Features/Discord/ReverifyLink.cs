using System.Globalization;
using System.Numerics;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Identity.Ownership;
using Freeside.Features.Linking;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Discord;

/// <summary>
/// Re-verifies one Discord user's wallet link on chain (the daily job; docs/discord.md, "Re-verification").
/// The rule: the link is verified when the chain says the linked wallet holds at least one NFT of a
/// community connected to a Discord server — one of the user's open thread tokens (ownerOf), or else any
/// token of a connected collection (balanceOf). Each open thread whose token the wallet no longer owns is
/// revoked as a transfer revokes it. A chain that does not answer changes nothing: not the link's
/// verified_at, not a thread. The chain is read directly, not through the 60 s ownership cache.
/// Not a transactional command: no transaction is held open around chain calls; the writes are
/// commands of their own (<see cref="RecordLinkVerified"/>, <see cref="RevokeThread"/>).
/// </summary>
public static class ReverifyLink
{
    public sealed record Command(string UserId, string Wallet) : IRequest<Result<Outcome>>;

    public enum Outcome
    {
        /// <summary>The wallet holds an NFT of a connected community; verified_at moved.</summary>
        Verified,

        /// <summary>The chain answered: no NFT of any connected community; verified_at stays, so the link goes stale in 48 h.</summary>
        NotHolding,

        /// <summary>The chain did not answer for what would decide it; nothing changed, the job tries again in an hour.</summary>
        ChainUnavailable,
    }

    private sealed record HeldThread(Guid Id, Guid CommunityId, string TokenId, long ChainId, string Collection);

    private sealed record Collection(long ChainId, string Address);

    internal sealed class Handler(FreesideDb db, ChainReader chain, IMediator mediator) : IRequestHandler<Command, Result<Outcome>>
    {
        public async Task<Result<Outcome>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (!EthereumAddress.TryParse(request.Wallet, out var wallet))
            {
                return new InteractionMalformed("The stored wallet is not an address.");
            }

            var (threads, collections) = await ReadAsync(request.UserId, cancellationToken);
            var held = false;
            var unanswered = false;
            var revoke = new List<HeldThread>();
            foreach (var thread in threads)
            {
                var owner = await chain.OwnerOfAsync(thread.ChainId, thread.Collection, BigInteger.Parse(thread.TokenId, CultureInfo.InvariantCulture), cancellationToken);
                if (!owner.IsSuccess)
                {
                    unanswered = true;
                }
                else if (owner.Value == wallet)
                {
                    held = true;
                }
                else
                {
                    revoke.Add(thread);
                }
            }

            foreach (var collection in collections)
            {
                if (held)
                {
                    break;
                }

                var balance = await chain.BalanceOfAsync(collection.ChainId, collection.Address, wallet, cancellationToken);
                if (!balance.IsSuccess)
                {
                    unanswered = true;
                }
                else if (balance.Value > 0)
                {
                    held = true;
                }
            }

            foreach (var thread in revoke)
            {
                var revoked = await mediator.Send(new RevokeThread.Command(thread.CommunityId, thread.Id), cancellationToken);
                if (!revoked.IsSuccess)
                {
                    return revoked.Error!;
                }
            }

            if (held)
            {
                var recorded = await mediator.Send(new RecordLinkVerified.Command(LinkPlatform.Discord, request.UserId, request.Wallet), cancellationToken);
                return recorded.IsSuccess ? Outcome.Verified : recorded.Error!;
            }

            return unanswered ? Outcome.ChainUnavailable : Outcome.NotHolding;
        }

        private async Task<(List<HeldThread> Threads, List<Collection> Collections)> ReadAsync(string userId, CancellationToken cancellationToken) =>
            await db.Database.CreateExecutionStrategy().ExecuteAsync(async ct =>
            {
                // The user's threads span communities: one read-only transaction in the platform scope.
                await using var transaction = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, ct);
                await db.Database.ExecuteSqlRawAsync("SET TRANSACTION READ ONLY", ct);
                await db.EnterPlatformScopeAsync(ct);
                var threads = await (from t in db.Set<AgentThread>().AsNoTracking()
                                     join c in db.Set<Community>().AsNoTracking() on t.CommunityId equals c.Id
                                     where t.HolderUserId == userId && t.Status == AgentThreadStatus.Open
                                     select new HeldThread(t.Id, t.CommunityId, t.TokenId, c.ChainId, c.CollectionAddress)).ToListAsync(ct);
                var collections = await (from g in db.Set<DiscordGuild>().AsNoTracking()
                                         join c in db.Set<Community>().AsNoTracking() on g.CommunitySlug equals c.Slug
                                         select new Collection(c.ChainId, c.CollectionAddress)).Distinct().ToListAsync(ct);
                return (threads, collections);
            }, cancellationToken);
    }
}
