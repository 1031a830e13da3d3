using Freeside.Features.Common;

namespace Freeside.Features.Ledger.Domain;

/// <summary>
/// One purchase or grant. Every movement shifts an amount between its five moving columns, so
/// available + reserved + consumed + expired + taken_back = original always (C1), no column goes negative, and
/// each movement appends one entry with the columns after it (C5). A movement the lot cannot make
/// is a bug in the caller (the account and the reservation decide what is possible) and throws.
/// </summary>
public sealed class Lot
{
    private readonly List<LedgerEntry> _newEntries = [];

    public Lot(Guid id, Guid accountId, Guid? communityId, Money original, Money available, Money reserved, Money consumed, Money expired,
        int seq, DateTimeOffset? expiresAt, DateTimeOffset createdAt, Money takenBack = default)
    {
        Id = id;
        AccountId = accountId;
        CommunityId = communityId;
        Original = original;
        Available = available;
        Reserved = reserved;
        Consumed = consumed;
        Expired = expired;
        TakenBack = takenBack;
        Seq = seq;
        ExpiresAt = expiresAt;
        CreatedAt = createdAt;
        if (available.IsNegative || reserved.IsNegative || consumed.IsNegative || expired.IsNegative || takenBack.IsNegative
            || available + reserved + consumed + expired + takenBack != original)
        {
            throw new LedgerRuleViolation($"Lot {id} does not add up: {available} + {reserved} + {consumed} + {expired} + {takenBack} <> {original}.");
        }
    }

    public Guid Id { get; }

    public Guid AccountId { get; }

    public Guid? CommunityId { get; }

    public Money Original { get; }

    public Money Available { get; private set; }

    public Money Reserved { get; private set; }

    public Money Consumed { get; private set; }

    public Money Expired { get; private set; }

    /// <summary>Credits a refund took back (<see cref="EntryKind.Clawback"/>) or a purchase gave to repay a debt (<see cref="EntryKind.Repay"/>).</summary>
    public Money TakenBack { get; private set; }

    /// <summary>The sequence number of the lot's latest entry.</summary>
    public int Seq { get; private set; }

    public DateTimeOffset? ExpiresAt { get; }

    public DateTimeOffset CreatedAt { get; }

    /// <summary>Entries made since the lot was loaded or minted, not yet written.</summary>
    public IReadOnlyList<LedgerEntry> NewEntries => _newEntries;

    public bool IsExpiredAt(DateTimeOffset now) => ExpiresAt is { } expiresAt && expiresAt <= now;

    public bool IsSpendableAt(DateTimeOffset now) => Available.IsPositive && !IsExpiredAt(now);

    /// <summary>A new lot of <paramref name="amount"/>, all available, with its mint entry.</summary>
    public static Lot Mint(Guid id, Guid accountId, Guid? communityId, Money amount, DateTimeOffset? expiresAt, DateTimeOffset now, string? reason)
    {
        if (!amount.IsPositive)
        {
            throw new LedgerRuleViolation($"A lot is minted with a positive amount, not {amount}.");
        }

        var lot = new Lot(id, accountId, communityId, amount, amount, Money.Zero, Money.Zero, Money.Zero, 0, expiresAt, now);
        lot.Record(null, EntryKind.Mint, amount, reason);
        return lot;
    }

    /// <summary>available → reserved, for a reservation's hold.</summary>
    internal void Hold(Guid reservationId, Money amount)
    {
        Require(amount, Available, "hold", "available");
        Available -= amount;
        Reserved += amount;
        Record(reservationId, EntryKind.Hold, amount, null);
    }

    /// <summary>reserved → consumed, for a finalized reservation's charge.</summary>
    internal void Charge(Guid reservationId, Money amount)
    {
        Require(amount, Reserved, "charge", "reserved");
        Reserved -= amount;
        Consumed += amount;
        Record(reservationId, EntryKind.Charge, amount, null);
    }

    /// <summary>reserved → available: the unused part of a hold, a released hold, or an orphaned one (<see cref="EntryKind.ExpireHold"/>).</summary>
    internal void ReturnHold(Guid reservationId, Money amount, bool orphaned, string? reason)
    {
        Require(amount, Reserved, "return", "reserved");
        Reserved -= amount;
        Available += amount;
        Record(reservationId, orphaned ? EntryKind.ExpireHold : EntryKind.Release, amount, reason);
    }

    /// <summary>consumed → available: part of a charge given back.</summary>
    internal void Reverse(Guid reservationId, Money amount, string reason)
    {
        Require(amount, Consumed, "reverse", "consumed");
        Consumed -= amount;
        Available += amount;
        Record(reservationId, EntryKind.Reverse, amount, reason);
    }

    /// <summary>available → taken back, for a refund of the payment that bought credits (never from reserved: a hold settles first).</summary>
    internal void TakeBack(Money amount, string reason)
    {
        Require(amount, Available, "take back", "available");
        Available -= amount;
        TakenBack += amount;
        Record(null, EntryKind.Clawback, amount, reason);
    }

    /// <summary>available → taken back, for a new purchase repaying the account's debt before it can be spent.</summary>
    internal void Repay(Money amount, string reason)
    {
        Require(amount, Available, "repay", "available");
        Available -= amount;
        TakenBack += amount;
        Record(null, EntryKind.Repay, amount, reason);
    }

    /// <summary>
    /// available → expired, once the lot is past its expiry; holds on it stay until they settle (and
    /// what they return expires at the next sweep). Returns the amount expired.
    /// </summary>
    public Money Expire(DateTimeOffset now)
    {
        if (!IsExpiredAt(now))
        {
            throw new LedgerRuleViolation($"Lot {Id} expires at {ExpiresAt?.ToString("O") ?? "never"}, not by {now:O}.");
        }

        var amount = Available;
        if (amount.IsZero)
        {
            return Money.Zero;
        }

        Available = Money.Zero;
        Expired += amount;
        Record(null, EntryKind.Expire, amount, "lot expired");
        return amount;
    }

    /// <summary>The new entries were written; they are no longer new.</summary>
    internal void AcceptEntries() => _newEntries.Clear();

    private void Require(Money amount, Money from, string movement, string column)
    {
        if (!amount.IsPositive || amount > from)
        {
            throw new LedgerRuleViolation($"Cannot {movement} {amount} on lot {Id}: {column} is {from}.");
        }
    }

    private void Record(Guid? reservationId, EntryKind kind, Money amount, string? reason)
    {
        Seq++;
        _newEntries.Add(new LedgerEntry(Id, AccountId, CommunityId, Seq, reservationId, kind, amount, Available, Reserved, Consumed, Expired, reason, TakenBack));
    }
}
