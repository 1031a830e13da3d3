using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Identity.Keys;

/// <summary>One ES256 key pair. Active while <see cref="RetiredAt"/> is null; published until the retire grace ends.</summary>
public sealed class SigningKey
{
    public required string Kid { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset ActivatedAt { get; init; }

    public DateTimeOffset? RetiredAt { get; set; }

    /// <summary>Set when a platform admin took the key out of service: never published or trusted again.</summary>
    public DateTimeOffset? RevokedAt { get; set; }

    public string? RevokedReason { get; set; }

    /// <summary>The public JWK as published (never carries "d").</summary>
    public required string PublicJwk { get; init; }

    public required byte[] PrivateKeyCiphertext { get; init; }

    public required string KekId { get; init; }
}

public sealed class SigningKeyConfiguration : IEntityTypeConfiguration<SigningKey>
{
    public void Configure(EntityTypeBuilder<SigningKey> builder)
    {
        builder.ToTable("jwks_keys");
        builder.HasKey(k => k.Kid);
    }
}
