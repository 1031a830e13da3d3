using Freeside.Features.Common;

namespace Freeside.Features.Ledger.Domain;

/// <summary>How a movement shifts a lot's columns; stored as the snake_case name (ledger_entries.kind).</summary>
public enum EntryKind
{
    Mint,
    Hold,
    Release,
    Charge,
    ExpireHold,
    Expire,
    Reverse,
    Clawback,
    Repay,
}

public static class EntryKinds
{
    public static string Name(this EntryKind kind) => kind switch
    {
        EntryKind.Mint => "mint",
        EntryKind.Hold => "hold",
        EntryKind.Release => "release",
        EntryKind.Charge => "charge",
        EntryKind.ExpireHold => "expire_hold",
        EntryKind.Expire => "expire",
        EntryKind.Reverse => "reverse",
        EntryKind.Clawback => "clawback",
        EntryKind.Repay => "repay",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    // The same deltas as Lot's methods, for the guard and the audit, which replay entries in SQL.
    public static string AvailableDelta(string e = "") =>
        $"CASE {e}kind WHEN 'mint' THEN {e}amount WHEN 'hold' THEN -{e}amount WHEN 'release' THEN {e}amount WHEN 'expire_hold' THEN {e}amount WHEN 'expire' THEN -{e}amount WHEN 'reverse' THEN {e}amount WHEN 'clawback' THEN -{e}amount WHEN 'repay' THEN -{e}amount ELSE 0 END";

    public static string ReservedDelta(string e = "") =>
        $"CASE {e}kind WHEN 'hold' THEN {e}amount WHEN 'release' THEN -{e}amount WHEN 'expire_hold' THEN -{e}amount WHEN 'charge' THEN -{e}amount ELSE 0 END";

    public static string ConsumedDelta(string e = "") => $"CASE {e}kind WHEN 'charge' THEN {e}amount WHEN 'reverse' THEN -{e}amount ELSE 0 END";

    public static string ExpiredDelta(string e = "") => $"CASE {e}kind WHEN 'expire' THEN {e}amount ELSE 0 END";

    public static string TakenBackDelta(string e = "") => $"CASE {e}kind WHEN 'clawback' THEN {e}amount WHEN 'repay' THEN {e}amount ELSE 0 END";
}

/// <summary>One movement of one lot, with the lot's columns after it (C5 chains on these) and the lot's sequence number.</summary>
public sealed record LedgerEntry(
    Guid LotId,
    Guid AccountId,
    Guid? CommunityId,
    int Seq,
    Guid? ReservationId,
    EntryKind Kind,
    Money Amount,
    Money AvailableAfter,
    Money ReservedAfter,
    Money ConsumedAfter,
    Money ExpiredAfter,
    string? Reason,
    Money TakenBackAfter = default);

public enum ReservationStatus
{
    Pending,
    Finalized,
    Released,
    Expired,
}

public static class ReservationStatuses
{
    public static string Name(this ReservationStatus status) => status switch
    {
        ReservationStatus.Pending => "pending",
        ReservationStatus.Finalized => "finalized",
        ReservationStatus.Released => "released",
        ReservationStatus.Expired => "expired",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };

    public static ReservationStatus Parse(string name) => name switch
    {
        "pending" => ReservationStatus.Pending,
        "finalized" => ReservationStatus.Finalized,
        "released" => ReservationStatus.Released,
        "expired" => ReservationStatus.Expired,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "not a reservation status"),
    };
}

/// <summary>A movement that would break a lot's rules: a bug in the caller, never an expected failure.</summary>
public sealed class LedgerRuleViolation(string message) : InvalidOperationException(message);
