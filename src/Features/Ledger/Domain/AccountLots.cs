using Freeside.Features.Common;
using Freeside.Features.Common.Errors;

namespace Freeside.Features.Ledger.Domain;

/// <summary>
/// A credit account with the lots it may spend (locked for the unit of work) and the reservations
/// already made with the idempotency keys in question. Reserving is all or nothing across the
/// lots, earliest expiry first (no expiry last), then oldest; never an expired lot, never a
/// negative one.
/// </summary>
public sealed class AccountLots(Guid accountId, Guid? communityId, IEnumerable<Lot> lots, IEnumerable<Reservation> byKey)
{
    private readonly List<Lot> _lots = [.. lots.Where(l => l.AccountId == accountId)];
    private readonly Dictionary<string, Reservation> _byKey = byKey.Where(r => r.AccountId == accountId).ToDictionary(r => r.IdempotencyKey);
    private readonly List<Reservation> _placed = [];

    public Guid AccountId { get; } = accountId;

    public Guid? CommunityId { get; } = communityId;

    public IReadOnlyList<Reservation> Placed => _placed;

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
}
