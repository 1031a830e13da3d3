using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Identity.Ownership;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Inference;

/// <summary>The caller's conversations with the agent of an NFT they own, newest first.</summary>
public static class ListConversations
{
    public const int Max = 100;

    public sealed record Query(string Slug, string TokenId, EthereumAddress Wallet) : IQuery<IReadOnlyList<ConversationView>>;

    public sealed record ConversationView(Guid ConversationId, int Messages, DateTimeOffset StartedAt, DateTimeOffset LastMessageAt);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
            RuleFor(q => q.TokenId).Must(AgentAccess.IsTokenId).WithMessage("token_id must be a decimal ERC-721 token id.");
        }
    }

    internal sealed class Handler(FreesideDb db, NftOwnership ownership) : IRequestHandler<Query, Result<IReadOnlyList<ConversationView>>>
    {
        public async Task<Result<IReadOnlyList<ConversationView>>> Handle(Query request, CancellationToken cancellationToken)
        {
            var agent = await AgentAccess.ResolveAsync(db, ownership, request.Slug, request.TokenId, request.Wallet, cancellationToken);
            if (!agent.IsSuccess)
            {
                return agent.Error!;
            }

            var (community, nftId, wallet) = agent.Value;
            var rows = await db.ReadInCommunityAsync(community.Id, ct => db.Set<AgentMessage>().AsNoTracking()
                .Where(m => m.CommunityId == community.Id && m.NftId == nftId && m.AuthorWallet == wallet)
                .GroupBy(m => m.ConversationId)
                .Select(g => new { Id = g.Key, Count = g.Count(), First = g.Min(m => m.CreatedAt), Last = g.Max(m => m.CreatedAt) })
                .OrderByDescending(c => c.Last).Take(Max)
                .ToListAsync(ct), cancellationToken);
            return rows.Select(r => new ConversationView(r.Id, r.Count, r.First, r.Last)).ToList();
        }
    }
}

/// <summary>One conversation's messages, newest first, a page at a time: pass the last message id as <c>before</c>.</summary>
public static class ListMessages
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 100;

    public sealed record Query(string Slug, string TokenId, EthereumAddress Wallet, Guid ConversationId, Guid? Before, int? Limit)
        : IQuery<MessagePage>;

    public sealed record MessageView(Guid Id, string Role, string Content, string Source, string? Pool, int? TokensInput, int? TokensOutput,
        long? CostMicro, DateTimeOffset CreatedAt);

    public sealed record MessagePage(IReadOnlyList<MessageView> Messages, Guid? NextBefore);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
            RuleFor(q => q.TokenId).Must(AgentAccess.IsTokenId).WithMessage("token_id must be a decimal ERC-721 token id.");
            RuleFor(q => q.Limit).InclusiveBetween(1, MaxLimit);
        }
    }

    internal sealed class Handler(FreesideDb db, NftOwnership ownership) : IRequestHandler<Query, Result<MessagePage>>
    {
        public async Task<Result<MessagePage>> Handle(Query request, CancellationToken cancellationToken)
        {
            var agent = await AgentAccess.ResolveAsync(db, ownership, request.Slug, request.TokenId, request.Wallet, cancellationToken);
            if (!agent.IsSuccess)
            {
                return agent.Error!;
            }

            var (community, nftId, wallet) = agent.Value;
            var limit = request.Limit ?? DefaultLimit;
            return await db.ReadInCommunityAsync<Result<MessagePage>>(community.Id, async ct =>
            {
                var mine = db.Set<AgentMessage>().AsNoTracking()
                    .Where(m => m.CommunityId == community.Id && m.ConversationId == request.ConversationId && m.NftId == nftId && m.AuthorWallet == wallet);
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
                    .Select(m => new MessageView(m.Id, m.Role, m.Content, m.Source, m.PoolId, m.TokensInput, m.TokensOutput, m.CostMicro, m.CreatedAt))
                    .ToListAsync(ct);
                if (page.Count == 0 && request.Before is null)
                {
                    return new NotFound("conversation", request.ConversationId.ToString());
                }

                var more = page.Count > limit;
                var shown = more ? page[..limit] : page;
                return new MessagePage(shown, more ? shown[^1].Id : null);
            }, cancellationToken);
        }
    }
}
