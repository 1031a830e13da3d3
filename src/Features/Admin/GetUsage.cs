using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;

namespace Freeside.Features.Admin;

/// <summary>
/// A community's spend over a period, exactly as usage_events hold it at the last finalization: totals,
/// per pool, per wallet (top 50), a daily series by pool, the burn rate and when the spendable balance
/// runs out at that rate. Whole days and hours come from the rollups written with each usage event
/// (usage_hour_rollups, usage_wallet_month_rollups); the partial hours at the window's edges are read from
/// the events (<see cref="UsageWindow"/>).
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
                var window = UsageWindow.Of(from, now);
                var pools = await AdminAccess.ListAsync(db, community, window.Sql("pool", """
                    SELECT key, sum(spend)::bigint, sum(calls)::bigint FROM parts GROUP BY key HAVING sum(calls) > 0 ORDER BY 2 DESC, 1
                    """), r => new PoolSpend(r.GetString(0), r.GetInt64(1), r.GetInt64(2)), ct, window.Parameters);
                var wallets = await AdminAccess.ListAsync(db, community, window.Sql("wallet", """
                    SELECT nullif(key, ''), sum(spend)::bigint, sum(calls)::bigint FROM parts GROUP BY key HAVING sum(calls) > 0 ORDER BY 2 DESC, 1 LIMIT 50
                    """), r => new WalletSpend(AdminAccess.Checksummed(r.IsDBNull(0) ? null : r.GetString(0)), r.GetInt64(1), r.GetInt64(2)), ct, window.Parameters);
                var days = await AdminAccess.ListAsync(db, community, window.Sql("pool", """
                    SELECT day, key, sum(spend)::bigint FROM parts GROUP BY day, key HAVING sum(calls) > 0 ORDER BY 1, 2
                    """), r => (Day: DateOnly.FromDateTime(r.GetDateTime(0)), Pool: r.GetString(1), Spend: r.GetInt64(2)), ct, window.Parameters);
                (string, object)[] range = [("from", from), ("now", now)];
                var reversed = (await AdminAccess.ListAsync(db, community,
                    "SELECT coalesce(sum(amount), 0)::bigint FROM credit_reversals WHERE community_id = @c AND created_at >= @from AND created_at <= @now",
                    r => r.GetInt64(0), ct, range))[0];
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
                // No date when nothing is spent, or when the balance outlasts the calendar (past year 9999).
                var daysLeft = burn > 0 ? (double)balance / burn : double.PositiveInfinity;
                DateTimeOffset? depletion = daysLeft < (DateTimeOffset.MaxValue - now).TotalDays ? now.AddDays(daysLeft) : null;
                return new UsageView(period, from, now, total, pools.Sum(p => p.Calls), reversed, burn, balance, depletion, pools, wallets, daily);
            }, cancellationToken);
        }
    }
}

/// <summary>
/// The usage events in (from, now] as rows of <c>parts (day, key, spend, calls)</c> for one dimension
/// ('pool' or 'wallet'): the rollups' whole days from the first to the last day of the window, corrected
/// at the edges. The window's first day is partial: when less than half of it lies before <c>from</c>
/// the whole day is taken and the part before <c>from</c> subtracted, otherwise the day is skipped and the
/// part from <c>from</c> to its end added — that part's whole hours from the hour rollup, the rest of its
/// partial hour (under an hour) from the events. Events of the last day after <c>now</c> (none, unless a
/// clock runs behind another writer's) are subtracted. A key whose calls net to zero was not in the window.
/// </summary>
internal sealed record UsageWindow(DateOnly FirstRollupDay, DateOnly LastDay, DateOnly EdgeDay, int HourFrom, int HourTo,
    DateTimeOffset EdgeFrom, DateTimeOffset EdgeTo, int EdgeSign, DateTimeOffset Now, DateTimeOffset End)
{
    public static UsageWindow Of(DateTimeOffset from, DateTimeOffset now)
    {
        var firstDay = DateOnly.FromDateTime(from.UtcDateTime);
        var lastDay = DateOnly.FromDateTime(now.UtcDateTime);
        var firstStart = new DateTimeOffset(firstDay.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var end = new DateTimeOffset(lastDay.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var hourStart = firstStart.AddHours(from.UtcDateTime.Hour);
        if (firstDay == lastDay || from - firstStart <= TimeSpan.FromHours(12))
        {
            // Less [midnight, from): its whole hours, then the events of from's hour before from.
            return new UsageWindow(firstDay, lastDay, firstDay, 0, from.UtcDateTime.Hour, hourStart, from, -1, now, end);
        }

        // Plus [from, next midnight): the events up to the next whole hour, then the whole hours to midnight.
        var nextHour = hourStart == from ? from : hourStart.AddHours(1);
        return new UsageWindow(firstDay.AddDays(1), lastDay, firstDay, (int)(nextHour - firstStart).TotalHours, 24, from, nextHour, 1, now, end);
    }

    public (string, object)[] Parameters =>
    [
        ("first_day", FirstRollupDay), ("first_month", new DateOnly(FirstRollupDay.Year, FirstRollupDay.Month, 1)), ("last_day", LastDay),
        ("edge_day", EdgeDay), ("hour_from", HourFrom), ("hour_to", HourTo),
        ("edge_from", EdgeFrom), ("edge_to", EdgeTo), ("edge_sign", EdgeSign), ("now", Now), ("end", End),
    ];

    public string Sql(string dimension, string select)
    {
        // Whole days. Pools: a row per day (its hours' total). Wallets: at most two rows per wallet (the window spans at
        // most two UTC months), each giving its days in the window as the running total through the last one less the
        // running total before the first. Element 0 of a running total is absent (null): nothing before the first.
        var (days, key, join) = dimension == "pool"
            ? ("""
                SELECT day, key, spend_through[24] AS spend, calls_through[24] AS calls
                FROM usage_hour_rollups
                WHERE community_id = @c AND dimension = 'pool' AND day >= @first_day AND day <= @last_day
                """, "coalesce(u.pool_id, 'none')", "")
            : ("""
                SELECT NULL::date AS day, r.wallet AS key,
                       r.spend_through[x.to_day] - coalesce(r.spend_through[x.from_day - 1], 0) AS spend,
                       r.calls_through[x.to_day] - coalesce(r.calls_through[x.from_day - 1], 0) AS calls
                FROM usage_wallet_month_rollups r
                CROSS JOIN LATERAL (SELECT greatest(@first_day - r.month + 1, 1) AS from_day, least(@last_day - r.month + 1, 31) AS to_day) x
                WHERE r.community_id = @c AND r.month >= @first_month AND r.month <= @last_day
                """, "coalesce(w.wallet, '')", "LEFT JOIN reservation_wallets w ON w.reservation_id = u.reservation_id");
        return $"""
            WITH parts AS (
                {days}
                UNION ALL
                SELECT day, key, @edge_sign * (spend_through[@hour_to] - coalesce(spend_through[@hour_from], 0)),
                       @edge_sign * (calls_through[@hour_to] - coalesce(calls_through[@hour_from], 0))
                FROM usage_hour_rollups
                WHERE community_id = @c AND dimension = '{dimension}' AND day = @edge_day AND @hour_from < @hour_to
                UNION ALL
                SELECT (u.created_at AT TIME ZONE 'UTC')::date, {key}, @edge_sign * u.amount_micro, @edge_sign
                FROM usage_events u {join}
                WHERE u.community_id = @c AND u.created_at >= @edge_from AND u.created_at < @edge_to
                UNION ALL
                SELECT (u.created_at AT TIME ZONE 'UTC')::date, {key}, -u.amount_micro, -1
                FROM usage_events u {join}
                WHERE u.community_id = @c AND u.created_at > @now AND u.created_at < @end
            )
            {select}
            """;
    }
}
