using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;

namespace Freeside.Features.Admin;

/// <summary>A community's agents: how many talked in the last 30 days, conversations, messages, last activity, and the 100 most recent agents.</summary>
public static class GetAgents
{
    public sealed record Query(string Slug, EthereumAddress? Viewer) : IQuery<AgentsView>;

    public sealed record AgentsView(long ActiveAgents30d, long Agents, long Conversations, long Messages, DateTimeOffset? LastActivityAt,
        IReadOnlyList<AgentView> Recent);

    public sealed record AgentView(string Nft, long Conversations, long Messages, long SpendMicro, DateTimeOffset LastActivityAt);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<AgentsView>>
    {
        public async Task<Result<AgentsView>> Handle(Query request, CancellationToken cancellationToken)
        {
            var access = await AdminAccess.ResolveAsync(db, request.Slug, request.Viewer, cancellationToken);
            if (access.Error is { } denied)
            {
                return denied;
            }

            var community = access.Value.Id;
            var since = time.GetUtcNow().AddDays(-30);
            return await db.ReadInCommunityAsync(community, async ct =>
            {
                var totals = (await AdminAccess.ListAsync(db, community, """
                    SELECT count(DISTINCT nft_id) FILTER (WHERE created_at >= @since), count(DISTINCT nft_id), count(DISTINCT conversation_id), count(*), max(created_at)
                    FROM agent_messages WHERE community_id = @c
                    """, r => (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.IsDBNull(4) ? (DateTimeOffset?)null : r.GetFieldValue<DateTimeOffset>(4)),
                    ct, ("since", since)))[0];
                var recent = await AdminAccess.ListAsync(db, community, """
                    SELECT nft_id, count(DISTINCT conversation_id), count(*), coalesce(sum(cost_micro), 0)::bigint, max(created_at)
                    FROM agent_messages WHERE community_id = @c
                    GROUP BY nft_id ORDER BY max(created_at) DESC, nft_id LIMIT 100
                    """, r => new AgentView(r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetFieldValue<DateTimeOffset>(4)), ct);
                return new AgentsView(totals.Item1, totals.Item2, totals.Item3, totals.Item4, totals.Item5, recent);
            }, cancellationToken);
        }
    }
}
