using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;

namespace Freeside.Features.Admin;

/// <summary>
/// A community's spend over a period, read live from usage_events (so never older than the last
/// finalization): totals, per pool, per wallet (top 50), a daily series by pool, the burn rate and
/// when the spendable balance runs out at that rate.
/// </summary>
public static class GetUsage
{
    public static readonly string[] Periods = ["day", "week", "month"];

    public sealed record Query(string Slug, string? Period, EthereumAddress? Viewer) : IQuery<UsageView>;

    public sealed record UsageView(
        string Period, DateTimeOffset From, DateTimeOffset To, long TotalSpendMicro, long Calls, long ReversedMicro,
        long BurnRateMicroPerDay, long BalanceMicro, DateTimeOffset? ProjectedDepletionAt,
        IReadOnlyList<PoolSpend> Pools, IReadOnlyList<WalletSpend> Wallets, IReadOnlyList<DailySpend> Daily);

    public sealed record PoolSpend(string Pool, long SpendMicro, long Calls);

    /// <summary>Wallet is the EIP-55 address, or null for spend not made through a wallet's chat.</summary>
    public sealed record WalletSpend(string? Wallet, long SpendMicro, long Calls);

    public sealed record DailySpend(DateOnly Date, long SpendMicro, IReadOnlyDictionary<string, long> Pools);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
            RuleFor(q => q.Period).Must(p => p is null || Periods.Contains(p)).WithMessage("period must be day, week or month.");
        }
    }

    public static DateTimeOffset PeriodStart(string period, DateTimeOffset now) => period switch
    {
        "day" => new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero),
        "week" => now.AddDays(-7),
        _ => now.AddDays(-30),
    };

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<UsageView>>
    {
        public async Task<Result<UsageView>> Handle(Query request, CancellationToken cancellationToken)
        {
            var access = await AdminAccess.ResolveAsync(db, request.Slug, request.Viewer, cancellationToken);
            if (access.Error is { } denied)
            {
                return denied;
            }

            var community = access.Value.Id;
            var period = request.Period ?? "month";
            var now = time.GetUtcNow();
            var from = PeriodStart(period, now);
            return await db.ReadInCommunityAsync(community, async ct =>
            {
                (string, object)[] window = [("from", from), ("now", now)];
                var pools = await AdminAccess.ListAsync(db, community, """
                    SELECT coalesce(pool_id, 'none'), coalesce(sum(amount_micro), 0)::bigint, count(*)
                    FROM usage_events WHERE community_id = @c AND created_at >= @from AND created_at <= @now
                    GROUP BY 1 ORDER BY 2 DESC, 1
                    """, r => new PoolSpend(r.GetString(0), r.GetInt64(1), r.GetInt64(2)), ct, window);
                var wallets = await AdminAccess.ListAsync(db, community, """
                    SELECT w.wallet, coalesce(sum(u.amount_micro), 0)::bigint, count(*)
                    FROM usage_events u LEFT JOIN reservation_wallets w ON w.reservation_id = u.reservation_id
                    WHERE u.community_id = @c AND u.created_at >= @from AND u.created_at <= @now
                    GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50
                    """, r => new WalletSpend(AdminAccess.Checksummed(r.IsDBNull(0) ? null : r.GetString(0)), r.GetInt64(1), r.GetInt64(2)), ct, window);
                var days = await AdminAccess.ListAsync(db, community, """
                    SELECT (created_at AT TIME ZONE 'UTC')::date, coalesce(pool_id, 'none'), coalesce(sum(amount_micro), 0)::bigint
                    FROM usage_events WHERE community_id = @c AND created_at >= @from AND created_at <= @now
                    GROUP BY 1, 2 ORDER BY 1, 2
                    """, r => (Day: DateOnly.FromDateTime(r.GetDateTime(0)), Pool: r.GetString(1), Spend: r.GetInt64(2)), ct, window);
                var reversed = (await AdminAccess.ListAsync(db, community,
                    "SELECT coalesce(sum(amount), 0)::bigint FROM credit_reversals WHERE community_id = @c AND created_at >= @from AND created_at <= @now",
                    r => r.GetInt64(0), ct, window))[0];
                var balance = (await AdminAccess.ListAsync(db, community,
                    "SELECT coalesce(sum(available) FILTER (WHERE expires_at IS NULL OR expires_at > @now), 0)::bigint FROM credit_lots WHERE community_id = @c",
                    r => r.GetInt64(0), ct, ("now", now)))[0];

                var total = pools.Sum(p => p.SpendMicro);
                var daily = new List<DailySpend>();
                for (var day = DateOnly.FromDateTime(from.UtcDateTime); day <= DateOnly.FromDateTime(now.UtcDateTime); day = day.AddDays(1))
                {
                    var spent = days.Where(d => d.Day == day).ToDictionary(d => d.Pool, d => d.Spend, StringComparer.Ordinal);
                    daily.Add(new DailySpend(day, spent.Values.Sum(), spent));
                }

                // Net of reversals, per day of the period (at least an hour, so a fresh day does not extrapolate minutes).
                var seconds = Math.Max(3600, (long)(now - from).TotalSeconds);
                var burn = Math.Max(0, total - reversed) * 86_400 / seconds;
                DateTimeOffset? depletion = burn > 0 ? now.AddSeconds((double)balance / burn * 86_400) : null;
                return new UsageView(period, from, now, total, pools.Sum(p => p.Calls), reversed, burn, balance, depletion, pools, wallets, daily);
            }, cancellationToken);
        }
    }
}
