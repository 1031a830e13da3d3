using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Identity.Roles;

public static class ListCommunityAdmins
{
    /// <summary>A community-admin read: only a signed-in admin of this very community may list its admins.</summary>
    public sealed record Query(string Community, EthereumAddress Caller) : IQuery<IReadOnlyList<CommunityAdminView>>;

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Community).NotEmpty().MaximumLength(63);
    }

    internal sealed class Handler(FreesideDb db) : IRequestHandler<Query, Result<IReadOnlyList<CommunityAdminView>>>
    {
        public async Task<Result<IReadOnlyList<CommunityAdminView>>> Handle(Query request, CancellationToken cancellationToken)
        {
            var community = await db.FindCommunityAsync(request.Community, cancellationToken);
            if (community is null)
            {
                return new NotFound("community", request.Community);
            }

            if (!await CommunityAdmins.IsAdminAsync(db, community.Id, request.Caller, cancellationToken))
            {
                return new AccessDenied($"Only an admin of '{community.Slug}' may do this.");
            }

            var admins = await db.ReadInCommunityAsync(community.Id, ct => db.Set<CommunityAdmin>().AsNoTracking()
                .Where(a => a.CommunityId == community.Id)
                .OrderBy(a => a.AddedAt)
                .ToListAsync(ct), cancellationToken);

            return admins.Select(a => new CommunityAdminView(community.Slug, EthereumAddress.TryParse(a.Address, out var address)
                ? address.ToChecksumString() : a.Address, a.AddedAt)).ToList();
        }
    }
}
