using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Identity.Siwe;

public sealed class SiweNonce
{
    public required string Nonce { get; init; }

    public DateTimeOffset IssuedAt { get; init; }

    public DateTimeOffset ExpiresAt { get; init; }

    /// <summary>Whether Redis held it when issued; decides whether Redis's silence later means "used".</summary>
    public bool CachedInRedis { get; init; }

    public DateTimeOffset? ConsumedAt { get; init; }
}

public sealed class SiweNonceConfiguration : IEntityTypeConfiguration<SiweNonce>
{
    public void Configure(EntityTypeBuilder<SiweNonce> builder)
    {
        builder.ToTable("siwe_nonces");
        builder.HasKey(n => n.Nonce);
    }
}
