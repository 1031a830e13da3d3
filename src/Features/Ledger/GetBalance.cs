using FluentValidation;
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
    public sealed record Query(string Slug, EthereumAddress? Viewer = null) : IQuery<BalanceView>;

    public sealed record BalanceView(long AvailableMicro, long ReservedMicro, long ConsumedMicro, long ExpiredMicro, IReadOnlyList<LotView> Lots);

    public sealed record LotView(
        Guid Id, string Source, long OriginalMicro, long AvailableMicro, long ReservedMicro, long ConsumedMicro, long ExpiredMicro,
        DateTimeOffset? ExpiresAt, DateTimeOffset CreatedAt);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<BalanceView>>
    {
        public async Task<Result<BalanceView>> Handle(Query request, CancellationToken cancellationToken)
        {
            var community = await db.FindCommunityAsync(request.Slug, cancellationToken);
            if (community is null)
            {
                return new NotFound("community", request.Slug);
            }

            if (request.Viewer is { } viewer && !await CommunityAdmins.IsAdminAsync(db, community.Id, viewer, cancellationToken))
            {
                return new AccessDenied($"Only an admin of '{community.Slug}' or a platform admin may see its balance.");
            }

            var lots = await db.ReadInCommunityAsync(community.Id, ct => db.Set<CreditLot>().AsNoTracking()
                .Where(l => l.CommunityId == community.Id)
                .OrderBy(l => l.ExpiresAt == null).ThenBy(l => l.ExpiresAt).ThenBy(l => l.CreatedAt)
                .ToListAsync(ct), cancellationToken);
            var now = time.GetUtcNow();
            // Credit on a lot past its expiry is not spendable even before the expiry sweep books it.
            var spendable = lots.Where(l => l.ExpiresAt is null || l.ExpiresAt > now).Sum(l => l.Available);
            return new BalanceView(
                spendable,
                lots.Sum(l => l.Reserved),
                lots.Sum(l => l.Consumed),
                lots.Sum(l => l.Expired) + lots.Where(l => l.ExpiresAt <= now).Sum(l => l.Available),
                [.. lots.Select(l => new LotView(l.Id, l.Source, l.Original, l.Available, l.Reserved, l.Consumed, l.Expired, l.ExpiresAt, l.CreatedAt))]);
        }
    }
}
