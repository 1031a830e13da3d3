using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Identity.Roles;

/// <summary>A wallet a platform admin made an admin of one community (a tenant row, under row-level security).</summary>
public sealed class CommunityAdmin
{
    public Guid CommunityId { get; init; }

    /// <summary>Lower-case hex; shown EIP-55 checksummed.</summary>
    public required string Address { get; init; }

    public DateTimeOffset AddedAt { get; init; }
}

public sealed class CommunityAdminConfiguration : IEntityTypeConfiguration<CommunityAdmin>
{
    public void Configure(EntityTypeBuilder<CommunityAdmin> builder)
    {
        builder.ToTable("community_admins");
        builder.HasKey(a => new { a.CommunityId, a.Address });
    }
}

public sealed record CommunityAdminView(string Community, string Address, DateTimeOffset AddedAt);
