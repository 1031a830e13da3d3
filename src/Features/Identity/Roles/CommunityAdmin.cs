using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Persistence;
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

/// <summary>The community-admin role check every community-admin endpoint shares.</summary>
public static class CommunityAdmins
{
    public static string Stored(EthereumAddress address) => "0x" + Convert.ToHexStringLower(address.ToArray());

    public static Task<bool> IsAdminAsync(FreesideDb db, Guid communityId, EthereumAddress wallet, CancellationToken cancellationToken)
    {
        var stored = Stored(wallet);
        return db.ReadInCommunityAsync(communityId,
            ct => db.Set<CommunityAdmin>().AsNoTracking().AnyAsync(a => a.CommunityId == communityId && a.Address == stored, ct),
            cancellationToken);
    }
}

public sealed record CommunityAdminView(string Community, string Address, DateTimeOffset AddedAt);
