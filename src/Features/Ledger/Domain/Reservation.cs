using Freeside.Features.Common;
using Freeside.Features.Common.Errors;

namespace Freeside.Features.Ledger.Domain;

/// <summary>One lot's part of a hold, in the order the lots were held.</summary>
public sealed record Hold(Guid LotId, Money Amount);

/// <summary>What one finalization records for usage_events.</summary>
public sealed record UsageRecord(Guid ReservationId, Money Charged, Money Requested, string FinalizationId, Usage Usage);

/// <summary>Part of a finalized charge given back (credit_reversals).</summary>
public sealed record Reversal(Guid Id, Guid ReservationId, string IdempotencyKey, Money Amount, string Reason, DateTimeOffset CreatedAt);

/// <summary>
/// A hold on an account's lots (TigerBeetle's pending transfer): it leaves <see cref="ReservationStatus.Pending"/>
/// exactly once — finalized, released, or expired by the orphan sweep — and only a finalized one can
/// have part of its charge reversed. A repeated settlement of the same kind is a replay and returns
/// the first outcome; a different one is refused.
/// </summary>
public sealed class Reservation
{
    private readonly List<Reversal> _newReversals = [];

    public Reservation(Guid id, Guid accountId, Guid? communityId, string idempotencyKey, Money held, IReadOnlyList<Hold> holds,
        ReservationStatus status, Money? charged, string? finalizationId, string? nftId, DateTimeOffset createdAt)
    {
        if (Money.Sum(holds.Select(h => h.Amount)) != held)
        {
            throw new LedgerRuleViolation($"Reservation {id} holds {held} but its lots add up to {Money.Sum(holds.Select(h => h.Amount))}.");
        }

        Id = id;
        AccountId = accountId;
        CommunityId = communityId;
        IdempotencyKey = idempotencyKey;
        Held = held;
        Holds = holds;
        Status = status;
        Charged = charged;
        FinalizationId = finalizationId;
        NftId = nftId;
        CreatedAt = createdAt;
    }

    public Guid Id { get; }

    public Guid AccountId { get; }

    public Guid? CommunityId { get; }

    public string IdempotencyKey { get; }

    public Money Held { get; }

    public IReadOnlyList<Hold> Holds { get; }

    public ReservationStatus Status { get; private set; }

    public Money? Charged { get; private set; }

    public string? FinalizationId { get; private set; }

    public string? SettleReason { get; private set; }

    public string? NftId { get; }

    public DateTimeOffset CreatedAt { get; }

    /// <summary>Made by this unit of work, not yet written.</summary>
    public bool IsNew { get; private set; }

    /// <summary>Settled by this unit of work, not yet written.</summary>
    public bool SettledNow { get; private set; }

    /// <summary>The usage event of a finalization made by this unit of work.</summary>
    public UsageRecord? NewUsage { get; private set; }

    public IReadOnlyList<Reversal> NewReversals => _newReversals;

    /// <summary>A new pending reservation: holds each lot's part (the account chose the lots).</summary>
    internal static Reservation Place(Guid id, Guid accountId, Guid? communityId, string idempotencyKey, IReadOnlyList<(Lot Lot, Money Amount)> parts,
        string? nftId, DateTimeOffset now)
    {
        var reservation = new Reservation(id, accountId, communityId, idempotencyKey, Money.Sum(parts.Select(p => p.Amount)),
            [.. parts.Select(p => new Hold(p.Lot.Id, p.Amount))], ReservationStatus.Pending, null, null, nftId, now) { IsNew = true };
        foreach (var (lot, amount) in parts)
        {
            lot.Hold(id, amount);
        }

        return reservation;
    }

    public ReservationView View(bool replayed) => new(Id, AccountId, Held.Micro, Status.Name(), Charged?.Micro, CreatedAt, replayed);

    /// <summary>
    /// Charges min(requested, held) from the held lots in hold order and returns the rest to them,
    /// once. A second finalize returns the first result; a released or expired one is refused.
    /// </summary>
    public Result<FinalizationView> Finalize(Money requested, string finalizationId, Usage usage, IReadOnlyDictionary<Guid, Lot> lots)
    {
        if (Status == ReservationStatus.Finalized)
        {
            return new FinalizationView(Id, AccountId, Held.Micro, Charged!.Value.Micro, (Held - Charged.Value).Micro, false, FinalizationId!, Replayed: true);
        }

        if (Status != ReservationStatus.Pending)
        {
            return new ReservationSettled(Id, Status);
        }

        if (requested.IsNegative)
        {
            throw new LedgerRuleViolation($"A charge is never negative ({requested}).");
        }

        var charged = Money.Min(requested, Held);
        var toCharge = charged;
        foreach (var hold in Holds)
        {
            var lot = HeldLot(lots, hold);
            var charge = Money.Min(hold.Amount, toCharge);
            toCharge -= charge;
            if (charge.IsPositive)
            {
                lot.Charge(Id, charge);
            }

            if ((hold.Amount - charge).IsPositive)
            {
                lot.ReturnHold(Id, hold.Amount - charge, orphaned: false, "unused part of the hold");
            }
        }

        Settle(ReservationStatus.Finalized, null);
        Charged = charged;
        FinalizationId = finalizationId;
        NewUsage = new UsageRecord(Id, charged, requested, finalizationId, usage);
        return new FinalizationView(Id, AccountId, Held.Micro, charged.Micro, (Held - charged).Micro, requested > Held, finalizationId, Replayed: false);
    }

    /// <summary>Returns the whole hold. Released or expired already: a replay; finalized: refused.</summary>
    public Result<ReservationView> Release(string reason, IReadOnlyDictionary<Guid, Lot> lots) => Return(ReservationStatus.Released, reason, lots);

    /// <summary>The orphan sweep's release: the same, as <see cref="ReservationStatus.Expired"/> with entry kind expire_hold.</summary>
    public Result<ReservationView> Expire(string reason, IReadOnlyDictionary<Guid, Lot> lots) => Return(ReservationStatus.Expired, reason, lots);

    /// <summary>
    /// Gives <paramref name="amount"/> of the charge back to the lots it came from, last charged
    /// first. <paramref name="history"/> holds the earlier reversals of this reservation and what
    /// each lot was charged and given back so far.
    /// </summary>
    public Result<Reversal> Reverse(Guid reversalId, Money amount, string idempotencyKey, string reason, ReversalHistory history,
        IReadOnlyDictionary<Guid, Lot> lots, DateTimeOffset now)
    {
        if (Status != ReservationStatus.Finalized)
        {
            return new ReservationNotCharged(Id, Status);
        }

        if (!amount.IsPositive)
        {
            throw new LedgerRuleViolation($"A reversal gives back a positive amount, not {amount}.");
        }

        var reversible = Charged!.Value - history.ReversedTotalOf(Id);
        if (amount > reversible)
        {
            return new ReversalExceedsCharge(Id, amount.Micro, reversible.Micro);
        }

        var left = amount;
        for (var h = Holds.Count - 1; h >= 0 && left.IsPositive; h--)
        {
            var (charged, already) = history.PerLot.GetValueOrDefault(Holds[h].LotId);
            var give = Money.Min(left, charged - already);
            if (!give.IsPositive)
            {
                continue;
            }

            HeldLot(lots, Holds[h]).Reverse(Id, give, reason);
            history.Gave(Holds[h].LotId, give);
            left -= give;
        }

        if (!left.IsZero)
        {
            throw new LedgerRuleViolation($"Reservation {Id}'s charge entries do not cover its recorded charge.");
        }

        var reversal = new Reversal(reversalId, Id, idempotencyKey, amount, reason, now);
        history.Add(reversal);
        _newReversals.Add(reversal);
        return reversal;
    }

    /// <summary>The changes were written; they are no longer new.</summary>
    internal void AcceptChanges()
    {
        IsNew = false;
        SettledNow = false;
        NewUsage = null;
        _newReversals.Clear();
    }

    private Result<ReservationView> Return(ReservationStatus status, string reason, IReadOnlyDictionary<Guid, Lot> lots)
    {
        if (Status is ReservationStatus.Released or ReservationStatus.Expired)
        {
            return View(replayed: true);
        }

        if (Status != ReservationStatus.Pending)
        {
            return new ReservationSettled(Id, Status);
        }

        foreach (var hold in Holds)
        {
            HeldLot(lots, hold).ReturnHold(Id, hold.Amount, orphaned: status == ReservationStatus.Expired, reason);
        }

        Settle(status, reason);
        return View(replayed: false);
    }

    private void Settle(ReservationStatus status, string? reason)
    {
        Status = status;
        SettleReason = reason;
        SettledNow = true;
    }

    private Lot HeldLot(IReadOnlyDictionary<Guid, Lot> lots, Hold hold) =>
        lots.TryGetValue(hold.LotId, out var lot) && lot.AccountId == AccountId
            ? lot
            : throw new LedgerRuleViolation($"Reservation {Id} holds lot {hold.LotId}, which was not loaded.");
}

/// <summary>A reservation's earlier reversals (and, for replays, the one of an idempotency key), and per lot what was charged and given back.</summary>
public sealed class ReversalHistory(IReadOnlyList<Reversal> earlier, IReadOnlyDictionary<Guid, (Money Charged, Money Reversed)> perLot)
{
    private readonly List<Reversal> _earlier = [.. earlier];
    private readonly Dictionary<Guid, (Money Charged, Money Reversed)> _perLot = new(perLot);

    public IReadOnlyDictionary<Guid, (Money Charged, Money Reversed)> PerLot => _perLot;

    public Money ReversedTotalOf(Guid reservationId) => Money.Sum(_earlier.Where(r => r.ReservationId == reservationId).Select(r => r.Amount));

    /// <summary>
    /// An idempotency key already used: the same reservation and amount replay that reversal, anything
    /// else is refused. Null when the key is new.
    /// </summary>
    public Result<Reversal>? Replay(string idempotencyKey, Guid reservationId, Money amount)
    {
        if (_earlier.FirstOrDefault(r => r.IdempotencyKey == idempotencyKey) is not { } earlier)
        {
            return null;
        }

        return earlier.ReservationId == reservationId && earlier.Amount == amount ? earlier : new IdempotencyKeyReused(idempotencyKey);
    }

    internal void Gave(Guid lotId, Money amount)
    {
        var (charged, reversed) = _perLot.GetValueOrDefault(lotId);
        _perLot[lotId] = (charged, reversed + amount);
    }

    internal void Add(Reversal reversal) => _earlier.Add(reversal);
}
