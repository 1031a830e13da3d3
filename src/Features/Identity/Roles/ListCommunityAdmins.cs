using FluentValidation;
using Freeside.Features.Common;
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
    public sealed record Query(string Community, EthereumAddress Caller, int? Limit = null, string? Cursor = null) : IQuery<Page<CommunityAdminView>>;

    private const string CursorList = "community-admins";

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Community).NotEmpty().MaximumLength(63);
            this.PageRules(q => q.Limit, q => q.Cursor, c => TryPosition(c, out _, out _));
        }
    }

    /// <summary>Admins are listed by when they were added, then address; the cursor is the last one shown.</summary>
    private static bool TryPosition(string? cursor, out DateTimeOffset addedAt, out string address)
    {
        addedAt = default;
        address = "";
        if (!Paging.TryDecode(cursor, CursorList, out var position) || position.Split(' ') is not [var ticks, var stored]
            || !long.TryParse(ticks, System.Globalization.CultureInfo.InvariantCulture, out var utcTicks)
            || utcTicks < DateTimeOffset.MinValue.UtcTicks || utcTicks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return false;
        }

        addedAt = new DateTimeOffset(utcTicks, TimeSpan.Zero);
        address = stored;
        return EthereumAddress.TryParse(stored, out _);
    }

    internal sealed class Handler(FreesideDb db) : IRequestHandler<Query, Result<Page<CommunityAdminView>>>
    {
        public async Task<Result<Page<CommunityAdminView>>> Handle(Query request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Community, cancellationToken);
            if (found.Error is { } notFound)
            {
                return notFound;
            }

            var community = found.Value;

            if (!await CommunityAdmins.IsAdminAsync(db, community.Id, request.Caller, cancellationToken))
            {
                return new AccessDenied($"Only an admin of '{community.Slug}' may do this.");
            }

            var limit = Paging.LimitOrDefault(request.Limit);
            var hasCursor = TryPosition(request.Cursor, out var afterAddedAt, out var afterAddress);
            var admins = await db.ReadInCommunityAsync(community.Id, ct => db.Set<CommunityAdmin>().AsNoTracking()
                .Where(a => a.CommunityId == community.Id)
                .Where(a => !hasCursor || a.AddedAt > afterAddedAt || (a.AddedAt == afterAddedAt && string.Compare(a.Address, afterAddress) > 0))
                .OrderBy(a => a.AddedAt).ThenBy(a => a.Address)
                .Take(limit + 1)
                .ToListAsync(ct), cancellationToken);

            var more = admins.Count > limit;
            var shown = more ? admins[..limit] : admins;
            var next = more ? Paging.Encode(CursorList, $"{shown[^1].AddedAt.UtcTicks} {shown[^1].Address}") : null;
            return new Page<CommunityAdminView>([.. shown.Select(a => new CommunityAdminView(community.Slug, EthereumAddress.TryParse(a.Address, out var address)
                ? address.ToChecksumString() : a.Address, a.AddedAt))], next);
        }
    }
}
