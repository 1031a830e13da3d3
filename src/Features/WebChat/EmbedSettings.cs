using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Identity.Roles;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.WebChat;

/// <summary>A community's web chat settings (webchat_settings): the origins that may embed its chat and open its socket.</summary>
public sealed class WebChatSettingsRow
{
    public Guid CommunityId { get; init; }

    public List<string> AllowedOrigins { get; set; } = [];

    public DateTimeOffset UpdatedAt { get; set; }
}

public sealed class WebChatSettingsRowConfiguration : IEntityTypeConfiguration<WebChatSettingsRow>
{
    public void Configure(EntityTypeBuilder<WebChatSettingsRow> builder) => builder.ToTable("webchat_settings").HasKey(s => s.CommunityId);
}

public static class EmbedOrigins
{
    public const int Max = 20;

    /// <summary>"scheme://host[:port]" in lower case, http(s) only, nothing after the authority; null when it is not one.</summary>
    public static string? Normalize(string? origin)
    {
        if (origin is not { Length: > 0 and <= 255 } || origin.Contains('*', StringComparison.Ordinal)
            || !Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.UserInfo.Length > 0)
        {
            return null;
        }

        // Exactly what a browser sends as Origin: no path, no trailing slash, no default port.
        var authority = uri.GetLeftPart(UriPartial.Authority);
        return string.Equals(authority, origin, StringComparison.OrdinalIgnoreCase) ? authority.ToLowerInvariant() : null;
    }

    public static Task<List<string>> ForCommunityAsync(FreesideDb db, Guid communityId, CancellationToken cancellationToken) =>
        db.ReadInCommunityAsync(communityId, async ct => await db.Set<WebChatSettingsRow>().AsNoTracking()
            .Where(s => s.CommunityId == communityId).Select(s => s.AllowedOrigins).FirstOrDefaultAsync(ct) ?? [], cancellationToken);
}

/// <summary>Sets the origins allowed to embed a community's chat and open its socket (its admins, or the platform admin).</summary>
public static class SetEmbedOrigins
{
    /// <param name="Caller">The signed-in wallet, which must administer the community; null for the platform admin.</param>
    public sealed record Command(string Slug, IReadOnlyList<string>? AllowedOrigins, EthereumAddress? Caller) : ICommand<View>;

    public sealed record View(IReadOnlyList<string> AllowedOrigins, DateTimeOffset UpdatedAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Slug).NotEmpty().MaximumLength(63);
            RuleFor(c => c.AllowedOrigins).NotNull().Must(o => o is null || o.Count <= EmbedOrigins.Max)
                .WithMessage($"allowed_origins may hold at most {EmbedOrigins.Max} origins.");
            RuleForEach(c => c.AllowedOrigins).Must(o => EmbedOrigins.Normalize(o) is not null)
                .WithMessage("each of allowed_origins must be an origin: http(s)://host[:port], with no path, query or wildcard.");
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Slug, cancellationToken);
            if (found.Error is { } notFound)
            {
                return notFound;
            }

            var community = found.Value;
            await db.EnterCommunityAsync(community.Id, cancellationToken);
            if (request.Caller is { } caller && !await CommunityAdmins.IsAdminAsync(db, community.Id, caller, cancellationToken))
            {
                return new AccessDenied($"Only an admin of '{community.Slug}' or a platform admin may change where its chat is embedded.");
            }

            var row = await db.Set<WebChatSettingsRow>().FirstOrDefaultAsync(s => s.CommunityId == community.Id, cancellationToken);
            if (row is null)
            {
                row = new WebChatSettingsRow { CommunityId = community.Id };
                db.Add(row);
            }

            row.AllowedOrigins = [.. request.AllowedOrigins!.Select(o => EmbedOrigins.Normalize(o)!).Distinct(StringComparer.Ordinal)];
            row.UpdatedAt = time.GetUtcNow();
            return new View(row.AllowedOrigins, row.UpdatedAt);
        }
    }
}

/// <summary>A community's embedding policy: which origins may frame its chat page and open its socket besides Freeside itself.</summary>
public static class GetEmbedPolicy
{
    public sealed record Query(string Slug) : IQuery<View>;

    public sealed record View(string Slug, string Name, IReadOnlyList<string> AllowedOrigins)
    {
        /// <summary>
        /// Freeside's own page (same host) or one of the community's origins. A request without Origin is not from a
        /// browser page, so it cannot ride a visitor's cookie and is let through to authenticate like any client.
        /// </summary>
        public bool Admits(string? origin, string selfHost)
        {
            if (string.IsNullOrEmpty(origin))
            {
                return true;
            }

            if (EmbedOrigins.Normalize(origin) is not { } normalized)
            {
                return false;
            }

            return string.Equals(new Uri(normalized).Authority, selfHost, StringComparison.OrdinalIgnoreCase)
                || AllowedOrigins.Contains(normalized, StringComparer.Ordinal);
        }

        public string FrameAncestors => string.Join(' ', AllowedOrigins.Prepend("'self'"));
    }

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
    }

    internal sealed class Handler(FreesideDb db) : IRequestHandler<Query, Result<View>>
    {
        public async Task<Result<View>> Handle(Query request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Slug, cancellationToken);
            if (found.Error is { } notFound)
            {
                return notFound;
            }

            return new View(found.Value.Slug, found.Value.Name, await EmbedOrigins.ForCommunityAsync(db, found.Value.Id, cancellationToken));
        }
    }
}
