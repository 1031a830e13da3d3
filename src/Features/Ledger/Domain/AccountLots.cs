using Freeside.Features.Common;
using Freeside.Features.Common.Errors;

namespace Freeside.Features.Ledger.Domain;

/// <summary>
/// A credit account with the lots it may spend (locked for the unit of work) and the reservations
/// already made with the idempotency keys in question. Reserving is all or nothing across the
/// lots, earliest expiry first (no expiry last), then oldest; never an expired lot, never a
/// negative one. An account in debt (a refund took back more than it had left) reserves nothing
/// until a purchase repays the debt.
/// </summary>
public sealed class AccountLots(Guid accountId, Guid? communityId, IEnumerable<Lot> lots, IEnumerable<Reservation> byKey, Money debt = default)
{
    private readonly List<Lot> _lots = [.. lots.Where(l => l.AccountId == accountId)];
    private readonly Dictionary<string, Reservation> _byKey = byKey.Where(r => r.AccountId == accountId).ToDictionary(r => r.IdempotencyKey);
    private readonly List<Reservation> _placed = [];

    public Guid AccountId { get; } = accountId;

    public Guid? CommunityId { get; } = communityId;

    public IReadOnlyList<Reservation> Placed => _placed;

    public Money Debt { get; private set; } = debt.IsNegative ? throw new LedgerRuleViolation($"A debt is never negative ({debt}).") : debt;

    public Money SpendableAt(DateTimeOffset now) => Money.Sum(_lots.Where(l => l.IsSpendableAt(now)).Select(l => l.Available));

    /// <summary>
    /// Holds <paramref name="amount"/> (zero is allowed: a BYOK call reserves nothing) or refuses it
    /// whole. A key already used returns its reservation when the amount is the same and is refused
    /// when it differs.
    /// </summary>
    public Result<ReservationView> Reserve(Guid reservationId, Money amount, string idempotencyKey, string? nftId, DateTimeOffset now)
    {
        if (_byKey.TryGetValue(idempotencyKey, out var known))
        {
            return known.Held == amount ? known.View(replayed: true) : new IdempotencyKeyReused(idempotencyKey);
        }

        if (amount.IsNegative)
        {
            throw new LedgerRuleViolation($"A hold is never negative ({amount}).");
        }

        if (Debt.IsPositive)
        {
            return new AccountInDebt(Debt.Micro);
        }

        var candidates = _lots.Where(l => l.IsSpendableAt(now))
            .OrderBy(l => l.ExpiresAt ?? DateTimeOffset.MaxValue).ThenBy(l => l.CreatedAt).ThenBy(l => l.Id)
            .ToList();
        var spendable = Money.Sum(candidates.Select(l => l.Available));
        if (amount > spendable)
        {
            return new InsufficientCredits(amount.Micro, spendable.Micro);
        }

        var parts = new List<(Lot, Money)>();
        var left = amount;
        foreach (var lot in candidates.TakeWhile(_ => left.IsPositive))
        {
            var take = Money.Min(left, lot.Available);
            parts.Add((lot, take));
            left -= take;
        }

        var reservation = Reservation.Place(reservationId, AccountId, CommunityId, idempotencyKey, parts, nftId, now);
        _byKey[idempotencyKey] = reservation;
        _placed.Add(reservation);
        return reservation.View(replayed: false);
    }

    /// <summary>
    /// Takes <paramref name="credits"/> back for a refunded purchase: from the purchase's own lot
    /// first, then the other spendable lots in reserve order, never what is reserved (a hold settles on
    /// its own) nor an expired lot (its credits are already gone). What cannot be taken becomes debt.
    /// </summary>
    public ClawbackOutcome ClawBack(Guid? purchaseLotId, Money credits, string reason, DateTimeOffset now)
    {
        if (!credits.IsPositive)
        {
            throw new LedgerRuleViolation($"A clawback takes a positive amount, not {credits}.");
        }

        var order = _lots.Where(l => l.IsSpendableAt(now))
            .OrderBy(l => l.Id == purchaseLotId ? 0 : 1)
            .ThenBy(l => l.ExpiresAt ?? DateTimeOffset.MaxValue).ThenBy(l => l.CreatedAt).ThenBy(l => l.Id)
            .ToList();
        var left = credits;
        foreach (var lot in order.TakeWhile(_ => left.IsPositive))
        {
            var take = Money.Min(left, lot.Available);
            lot.TakeBack(take, reason);
            left -= take;
        }

        Debt += left;
        return new ClawbackOutcome(credits - left, left);
    }

    /// <summary>A new purchase lot pays the debt before anything else can spend it; returns what it repaid.</summary>
    public Money Repay(Lot purchase, string reason)
    {
        if (purchase.AccountId != AccountId)
        {
            throw new LedgerRuleViolation($"Lot {purchase.Id} belongs to another account than {AccountId}.");
        }

        var repaid = Money.Min(Debt, purchase.Available);
        if (repaid.IsPositive)
        {
            purchase.Repay(repaid, reason);
            Debt -= repaid;
        }

        return repaid;
    }
}

/// <summary>What a clawback took from the lots and what it left as debt; the two sum to the refunded credits.</summary>
public sealed record ClawbackOutcome(Money Taken, Money Debt);
