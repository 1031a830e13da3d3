using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Inference;
using MediatR;

namespace Freeside.Features.Admin;

/// <summary>
/// Which pools each tier may use and why (the tier rule of <see cref="PoolCatalog"/>), how often finn
/// claimed a pool outside the tier (reservations released as a pool claim violation), and how the last
/// 30 days' calls spread over the pools.
/// </summary>
public static class GetPoolAccess
{
    public const string PoolClaimViolationReason = "pool claim violation";

    public sealed record Query(string Slug, EthereumAddress? Viewer) : IQuery<PoolAccessView>;

    public sealed record PoolAccessView(string CommunityTier, IReadOnlyList<TierView> Tiers, long PoolClaimRejections30d, IReadOnlyList<PoolCalls> Calls30d);

    public sealed record TierView(string Tier, bool Current, IReadOnlyList<PoolRule> Pools);

    public sealed record PoolRule(string Pool, string Model, string Reason);

    public sealed record PoolCalls(string Pool, long Calls, long SpendMicro, double Share);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<PoolAccessView>>
    {
        public async Task<Result<PoolAccessView>> Handle(Query request, CancellationToken cancellationToken)
        {
            var access = await AdminAccess.ResolveAsync(db, request.Slug, request.Viewer, cancellationToken);
            if (access.Error is { } denied)
            {
                return denied;
            }

            var community = access.Value;
            var since = time.GetUtcNow().AddDays(-30);
            var tiers = new[] { AccessLevel.Free, AccessLevel.Pro, AccessLevel.Enterprise }.Select(level =>
            {
                var tier = PoolCatalog.Tier(level);
                return new TierView(tier, level == community.DefaultAccessLevel, [.. PoolCatalog.AllowedFor(level).Select(pool =>
                    new PoolRule(pool, PoolCatalog.All[pool].Model, $"tier '{tier}' allows {string.Join(", ", PoolCatalog.AllowedFor(level))}"))]);
            }).ToList();
            return await db.ReadInCommunityAsync(community.Id, async ct =>
            {
                var rejections = (await AdminAccess.ListAsync(db, community.Id, """
                    SELECT count(*) FROM credit_reservations WHERE community_id = @c AND settle_reason = @reason AND created_at >= @since
                    """, r => r.GetInt64(0), ct, ("reason", PoolClaimViolationReason), ("since", since)))[0];
                var calls = await AdminAccess.ListAsync(db, community.Id, """
                    SELECT coalesce(pool_id, 'none'), count(*), coalesce(sum(amount_micro), 0)::bigint
                    FROM usage_events WHERE community_id = @c AND created_at >= @since GROUP BY 1 ORDER BY 2 DESC, 1
                    """, r => (Pool: r.GetString(0), Calls: r.GetInt64(1), Spend: r.GetInt64(2)), ct, ("since", since));
                var all = Math.Max(1, calls.Sum(c => c.Calls));
                return new PoolAccessView(PoolCatalog.Tier(community.DefaultAccessLevel), tiers, rejections,
                    [.. calls.Select(c => new PoolCalls(c.Pool, c.Calls, c.Spend, Math.Round((double)c.Calls / all, 4)))]);
            }, cancellationToken);
        }
    }
}
