using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Communities;

/// <summary>An NFT community: one collection on one chain, whose holders get agents.</summary>
public sealed class Community
{
    public Guid Id { get; init; }

    public required string Slug { get; init; }

    public required string Name { get; set; }

    public long ChainId { get; init; }

    /// <summary>Lower-case hex; shown EIP-55 checksummed.</summary>
    public required string CollectionAddress { get; init; }

    public AccessLevel DefaultAccessLevel { get; set; }

    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>The tier a holder gets unless something grants more; decides the model pools (finn contract).</summary>
public enum AccessLevel
{
    Free,
    Pro,
    Enterprise,
}

public sealed class CommunityConfiguration : IEntityTypeConfiguration<Community>
{
    public void Configure(EntityTypeBuilder<Community> builder)
    {
        builder.ToTable("communities");
        builder.HasKey(c => c.Id);
        builder.HasIndex(c => c.Slug).IsUnique();
        builder.Property(c => c.DefaultAccessLevel).HasConversion(
            level => level.ToString().ToLowerInvariant(),
            text => Enum.Parse<AccessLevel>(text, true));
    }
}

public sealed record CommunityView(
    string Slug,
    string Name,
    long ChainId,
    string CollectionAddress,
    AccessLevel DefaultAccessLevel,
    DateTimeOffset CreatedAt)
{
    public static CommunityView From(Community community) => new(
        community.Slug,
        community.Name,
        community.ChainId,
        community.CollectionAddress,
        community.DefaultAccessLevel,
        community.CreatedAt);
}

public static class CommunityLookup
{
    /// <summary>
    /// The community with this slug, untracked, or the one NotFound every slice keyed by slug answers
    /// (404 naming the slug).
    /// </summary>
    // Compiled once: every chat, whatever its surface, starts by finding its community.
    private static readonly Func<FreesideDb, string, CancellationToken, Task<Community?>> BySlug =
        EF.CompileAsyncQuery((FreesideDb db, string slug, CancellationToken _) => db.Set<Community>().AsNoTracking().SingleOrDefault(c => c.Slug == slug));

    public static async Task<Result<Community>> CommunityBySlugAsync(this FreesideDb db, string slug, CancellationToken cancellationToken) =>
        await BySlug(db, slug, cancellationToken) is { } community
            ? community
            : new NotFound("community", slug);
}
