using System.Globalization;
using System.Numerics;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Identity.Ownership;
using Freeside.Features.Inference;
using Freeside.Features.Ledger;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.WebChat;

/// <summary>What the chat page shows its viewer: signed out, the holder (with the credit balance), or a non-holder and why.</summary>
public static class GetChatState
{
    public sealed record Query(string Slug, string TokenId, EthereumAddress? Wallet) : IQuery<View>;

    /// <param name="Mode">signed_out | holder | read_only.</param>
    /// <param name="Reason">Why a signed-in wallet may only read, as a sentence; null otherwise.</param>
    public sealed record View(string Community, string CommunityName, long ChainId, string TokenId, string Mode, string? Address, string? Reason,
        long? BalanceMicro);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
            RuleFor(q => q.TokenId).Must(AgentAccess.IsTokenId).WithMessage("token_id must be a decimal ERC-721 token id.");
        }
    }

    internal sealed class Handler(FreesideDb db, NftOwnership ownership) : IRequestHandler<Query, Result<View>>
    {
        public async Task<Result<View>> Handle(Query request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Slug, cancellationToken);
            if (found.Error is { } notFound)
            {
                return notFound;
            }

            var community = found.Value;
            var owner = await ownership.OwnerOfAsync(community.ChainId, community.CollectionAddress,
                BigInteger.Parse(request.TokenId, CultureInfo.InvariantCulture), cancellationToken);
            if (!owner.IsSuccess)
            {
                return owner.Error!;
            }

            if (owner.Value is null)
            {
                return new NotFound("token", request.TokenId);
            }

            if (request.Wallet is not { } wallet)
            {
                return new View(community.Slug, community.Name, community.ChainId, request.TokenId, "signed_out", null, null, null);
            }

            if (owner.Value != wallet)
            {
                return new View(community.Slug, community.Name, community.ChainId, request.TokenId, "read_only", wallet.ToChecksumString(),
                    $"Token {request.TokenId} belongs to another wallet, so you can read this agent's profile but not talk to it.", null);
            }

            var balance = await db.ReadInCommunityAsync(community.Id, ct => db.Set<CreditLot>().AsNoTracking()
                .Where(l => l.CommunityId == community.Id && (l.ExpiresAt == null || l.ExpiresAt > DateTimeOffset.UtcNow))
                .SumAsync(l => l.Available, ct), cancellationToken);
            return new View(community.Slug, community.Name, community.ChainId, request.TokenId, "holder", wallet.ToChecksumString(), null, balance);
        }
    }
}

/// <summary>
/// The holder's messages with an agent from every surface (web, Discord, Telegram, API), newest first, a page at a
/// time: pass <c>next_before</c> back as <c>before</c>. Each message names its source for the page's badge.
/// </summary>
public static class ListHistory
{
    public const int DefaultLimit = 30;
    public const int MaxLimit = 100;

    public sealed record Query(string Slug, string TokenId, EthereumAddress Wallet, Guid? Before, int? Limit) : IQuery<Page>;

    public sealed record Item(Guid Id, Guid ConversationId, string Source, string Role, string Content, DateTimeOffset CreatedAt);

    public sealed record Page(IReadOnlyList<Item> Messages, Guid? NextBefore);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
            RuleFor(q => q.TokenId).Must(AgentAccess.IsTokenId).WithMessage("token_id must be a decimal ERC-721 token id.");
            RuleFor(q => q.Limit).InclusiveBetween(1, MaxLimit);
        }
    }

    internal sealed class Handler(FreesideDb db, NftOwnership ownership) : IRequestHandler<Query, Result<Page>>
    {
        public async Task<Result<Page>> Handle(Query request, CancellationToken cancellationToken)
        {
            var agent = await AgentAccess.ResolveAsync(db, ownership, request.Slug, request.TokenId, request.Wallet, cancellationToken);
            if (!agent.IsSuccess)
            {
                return agent.Error!;
            }

            var (community, nftId, wallet) = agent.Value;
            var limit = request.Limit ?? DefaultLimit;
            return await db.ReadInCommunityAsync<Result<Page>>(community.Id, async ct =>
            {
                var mine = db.Set<AgentMessage>().AsNoTracking()
                    .Where(m => m.CommunityId == community.Id && m.NftId == nftId && m.AuthorWallet == wallet);
                if (request.Before is { } before)
                {
                    var cursor = await mine.Where(m => m.Id == before).Select(m => new { m.CreatedAt, m.Id }).FirstOrDefaultAsync(ct);
                    if (cursor is null)
                    {
                        return new NotFound("message", before.ToString());
                    }

                    mine = mine.Where(m => m.CreatedAt < cursor.CreatedAt || (m.CreatedAt == cursor.CreatedAt && m.Id.CompareTo(cursor.Id) < 0));
                }

                var page = await mine.OrderByDescending(m => m.CreatedAt).ThenByDescending(m => m.Id).Take(limit + 1)
                    .Select(m => new Item(m.Id, m.ConversationId, m.Source, m.Role, m.Content, m.CreatedAt))
                    .ToListAsync(ct);
                var more = page.Count > limit;
                var shown = more ? page[..limit] : page;
                return new Page(shown, more ? shown[^1].Id : null);
            }, cancellationToken);
        }
    }
}
