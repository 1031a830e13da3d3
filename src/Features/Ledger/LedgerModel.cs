using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Ledger;

/// <summary>Who owns the credits: a community, or a developer using API keys (no community).</summary>
public sealed class CreditAccount
{
    public Guid Id { get; init; }

    public required string Kind { get; init; }

    public Guid? CommunityId { get; init; }

    public Guid? DeveloperId { get; init; }

    /// <summary>What refunds took back beyond the credits left (C6); repaid first by the next purchase. Written by <see cref="LedgerStore"/>.</summary>
    public long DebtMicro { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>
/// One purchase or grant. Movements only shift amounts between the four moving columns;
/// <see cref="Original"/> never changes (C1). Written by <see cref="LedgerStore"/> with SQL from <see cref="Domain.Lot"/>, read here.
/// </summary>
public sealed class CreditLot
{
    public Guid Id { get; init; }

    public Guid AccountId { get; init; }

    public Guid? CommunityId { get; init; }

    public required string Source { get; init; }

    public required string SourceRef { get; init; }

    public long Original { get; init; }

    public long Available { get; init; }

    public long Reserved { get; init; }

    public long Consumed { get; init; }

    public long TakenBack { get; init; }

    public long Expired { get; init; }

    public int EntrySeq { get; init; }

    public DateTimeOffset? ExpiresAt { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

public sealed class ConservationViolationRecord
{
    public long Id { get; init; }

    public Guid AccountId { get; init; }

    public Guid? CommunityId { get; init; }

    public required string Invariant { get; init; }

    public required string Source { get; init; }

    public string? RequestType { get; init; }

    public required string Detail { get; init; }

    public DateTimeOffset DetectedAt { get; init; }
}

public sealed class LedgerModelConfiguration :
    IEntityTypeConfiguration<CreditAccount>,
    IEntityTypeConfiguration<CreditLot>,
    IEntityTypeConfiguration<ConservationViolationRecord>
{
    public void Configure(EntityTypeBuilder<CreditAccount> builder) => builder.ToTable("credit_accounts").HasKey(a => a.Id);

    public void Configure(EntityTypeBuilder<CreditLot> builder) => builder.ToTable("credit_lots").HasKey(l => l.Id);

    public void Configure(EntityTypeBuilder<ConservationViolationRecord> builder) => builder.ToTable("conservation_violations").HasKey(v => v.Id);
}

public sealed record ReservationView(
    Guid ReservationId,
    Guid AccountId,
    long HeldMicro,
    string Status,
    long? ChargedMicro,
    DateTimeOffset CreatedAt,
    bool Replayed);

/// <param name="AvailableMicro">What the account can spend right after the finalizing transaction (its unexpired lots'
/// available credits), read in that transaction; set by the handlers, not by the domain.</param>
public sealed record FinalizationView(
    Guid ReservationId,
    Guid AccountId,
    long HeldMicro,
    long ChargedMicro,
    long ReleasedMicro,
    bool Clamped,
    string FinalizationId,
    bool Replayed,
    long? AvailableMicro = null);

/// <summary>What inference reports for one finalized call (usage_events, task 1.4).</summary>
public sealed record Usage(
    string? NftId = null,
    string? PoolId = null,
    int TokensInput = 0,
    int TokensOutput = 0,
    string BillingMethod = "reported",
    string AccountingMode = "standard");
