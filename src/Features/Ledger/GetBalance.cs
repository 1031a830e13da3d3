using FluentValidation;
using Freeside.Features.Common;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Identity.Roles;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Ledger;

public static class GetBalance
{
    /// <param name="Viewer">The signed-in wallet asking, which must administer the community; null for the platform admin.</param>
    /// <param name="Limit">Lots per page (1–100).</param>
    /// <param name="Cursor">The previous page's <c>next_cursor</c>.</param>
    public sealed record Query(string Slug, EthereumAddress? Viewer = null, int? Limit = null, string? Cursor = null) : IQuery<BalanceView>;

    /// <summary>
    /// The totals cover every lot; <see cref="Lots"/> is one page of them, oldest first. A positive
    /// <paramref name="DebtMicro"/> (a refund took back credits already spent) blocks new holds until a purchase repays it.
    /// </summary>
    public sealed record BalanceView(
        long AvailableMicro, long ReservedMicro, long ConsumedMicro, long ExpiredMicro, long TakenBackMicro, long DebtMicro, long LotCount,
        IReadOnlyList<LotView> Lots, string? NextCursor);

    public sealed record LotView(
        Guid Id, string Source, long OriginalMicro, long AvailableMicro, long ReservedMicro, long ConsumedMicro, long ExpiredMicro, long TakenBackMicro,
        DateTimeOffset? ExpiresAt, DateTimeOffset CreatedAt);

    private const string CursorList = "lots";

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
            this.PageRules(q => q.Limit, q => q.Cursor, c => Paging.TryDecode(c, CursorList, out var id) && Guid.TryParse(id, out _));
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<BalanceView>>
    {
        public async Task<Result<BalanceView>> Handle(Query request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Slug, cancellationToken);
            if (found.Error is { } notFound)
            {
                return notFound;
            }

            var community = found.Value;

            if (request.Viewer is { } viewer && !await CommunityAdmins.IsAdminAsync(db, community.Id, viewer, cancellationToken))
            {
                return new AccessDenied($"Only an admin of '{community.Slug}' or a platform admin may see its balance.");
            }

            var now = time.GetUtcNow();
            var limit = Paging.LimitOrDefault(request.Limit);
            Guid? after = Paging.TryDecode(request.Cursor, CursorList, out var position) ? Guid.Parse(position) : null;
            var (totals, page, debtMicro) = await db.ReadInCommunityAsync(community.Id, async ct =>
            {
                var lots = db.Set<CreditLot>().AsNoTracking().Where(l => l.CommunityId == community.Id);
                var sums = await lots.TotalsAsync(now, ct);
                var rows = await lots.Where(l => after == null || l.Id > after).OrderBy(l => l.Id).Take(limit + 1).ToListAsync(ct);
                var debt = await db.Set<CreditAccount>().AsNoTracking()
                    .Where(a => a.Kind == "community" && a.CommunityId == community.Id).Select(a => a.DebtMicro).SingleOrDefaultAsync(ct);
                return (sums, rows, debt);
            }, cancellationToken);

            var more = page.Count > limit;
            var shown = more ? page[..limit] : page;
            return new BalanceView(
                totals.Spendable,
                totals.Reserved,
                totals.Consumed,
                totals.Expired,
                totals.TakenBack,
                debtMicro,
                totals.Count,
                [.. shown.Select(l => new LotView(l.Id, l.Source, l.Original, l.Available, l.Reserved, l.Consumed, l.Expired, l.TakenBack, l.ExpiresAt, l.CreatedAt))],
                more ? Paging.Encode(CursorList, shown[^1].Id.ToString()) : null);
        }
    }
}

/// <summary>An account's lots summed; <see cref="Expired"/> includes credit past its expiry that the sweep has not booked yet.</summary>
public sealed record LotTotals(long Spendable, long Reserved, long Consumed, long Expired, long TakenBack, long Count)
{
    public static readonly LotTotals None = new(0, 0, 0, 0, 0, 0);
}

public static class LotQueries
{
    /// <summary>The lots' totals in one query (a balance view's header).</summary>
    public static async Task<LotTotals> TotalsAsync(this IQueryable<CreditLot> lots, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Credit on a lot past its expiry is not spendable even before the expiry sweep books it.
        var sums = await lots.GroupBy(_ => 1).Select(g => new
        {
            Spendable = g.Sum(l => l.ExpiresAt == null || l.ExpiresAt > now ? l.Available : 0),
            Lapsed = g.Sum(l => l.ExpiresAt != null && l.ExpiresAt <= now ? l.Available : 0),
            Reserved = g.Sum(l => l.Reserved),
            Consumed = g.Sum(l => l.Consumed),
            Expired = g.Sum(l => l.Expired),
            TakenBack = g.Sum(l => l.TakenBack),
            Count = g.LongCount(),
        }).SingleOrDefaultAsync(cancellationToken);
        return sums is null ? LotTotals.None : new LotTotals(sums.Spendable, sums.Reserved, sums.Consumed, sums.Expired + sums.Lapsed, sums.TakenBack, sums.Count);
    }
}
