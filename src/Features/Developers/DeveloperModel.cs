using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Developers;

/// <summary>A signed-in wallet that uses API keys; its id is its credit account's developer id.</summary>
public sealed class Developer
{
    public const string Pro = "pro";
    public const string Enterprise = "enterprise";

    public Guid Id { get; init; }

    /// <summary>Lower-case hex address.</summary>
    public required string Wallet { get; init; }

    public required string Tier { get; set; }

    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>
/// One API key: only its public id, a salt and HMAC-SHA256(pepper, salt ‖ secret) are stored, with the
/// pepper's version. A rotated key has <see cref="ExpiresAt"/> (the end of its grace); a deleted one <see cref="RevokedAt"/>.
/// </summary>
public sealed class ApiKey
{
    public const int MaxActivePerDeveloper = 10;

    public required string Id { get; init; }

    public Guid DeveloperId { get; init; }

    public required string Name { get; init; }

    public required string Mode { get; init; }

    public required byte[] Salt { get; init; }

    public required byte[] SecretHash { get; init; }

    public int PepperVersion { get; init; }

    public int RequestsPerMinute { get; init; }

    public int TokensPerDay { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? ExpiresAt { get; set; }

    public DateTimeOffset? RevokedAt { get; set; }

    public string? ReplacedBy { get; set; }

    public bool IsActiveAt(DateTimeOffset now) => RevokedAt is null && (ExpiresAt is null || ExpiresAt > now);
}

/// <summary>One call through the OpenAI-compatible API, as charged (append-only).</summary>
public sealed class ApiCall
{
    public Guid Id { get; init; }

    public Guid DeveloperId { get; init; }

    public required string KeyId { get; init; }

    public required string Mode { get; init; }

    public required string Model { get; init; }

    public required string PoolId { get; init; }

    public Guid ReservationId { get; init; }

    public int TokensInput { get; init; }

    public int TokensOutput { get; init; }

    public long AmountMicro { get; init; }

    public required string BillingMode { get; init; }

    public bool Completed { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

public sealed class DeveloperModelConfiguration :
    IEntityTypeConfiguration<Developer>,
    IEntityTypeConfiguration<ApiKey>,
    IEntityTypeConfiguration<ApiCall>
{
    public void Configure(EntityTypeBuilder<Developer> builder) => builder.ToTable("developers").HasKey(d => d.Id);

    public void Configure(EntityTypeBuilder<ApiKey> builder) => builder.ToTable("api_keys").HasKey(k => k.Id);

    public void Configure(EntityTypeBuilder<ApiCall> builder) => builder.ToTable("api_calls").HasKey(c => c.Id);
}
