using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Identity.Sessions;

public sealed class RevokedSession
{
    public Guid Jti { get; init; }

    public DateTimeOffset RevokedAt { get; init; }

    public DateTimeOffset ExpiresAt { get; init; }
}

public sealed class RevokedSessionConfiguration : IEntityTypeConfiguration<RevokedSession>
{
    public void Configure(EntityTypeBuilder<RevokedSession> builder)
    {
        builder.ToTable("revoked_sessions");
        builder.HasKey(r => r.Jti);
    }
}
