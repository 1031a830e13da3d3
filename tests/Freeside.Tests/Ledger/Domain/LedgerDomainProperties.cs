using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Freeside.Features.Common;
using Freeside.Features.Ledger;
using Freeside.Features.Ledger.Domain;
using static Freeside.Tests.Ledger.Domain.DomainKit;

namespace Freeside.Tests.Ledger.Domain;

/// <summary>The domain alone, thousands of random histories a second: every transition keeps the sums.</summary>
public sealed class LedgerDomainProperties
{
    /// <summary>Kind: 0 mint, 1 reserve, 2 finalize, 3 release, 4 orphan expiry, 5 reverse, 6 clock forward + lot expiry.</summary>
    public sealed record Op(int Kind, long Amount, int Target);

    public static class Ops
    {
        public static Arbitrary<Op[]> Histories() => Arb.From(Gen.ListOf(
            from kind in Gen.Choose(0, 6)
            from amount in Gen.Choose(0, 500)
            from target in Gen.Choose(0, 40)
            select new Op(kind, amount, target)).Select(list => list.Take(60).ToArray()));
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(Ops)])]
    public bool RandomHistories_KeepEveryLotWholeAndTheAccountsSums(Op[] history)
    {
        var now = Start;
        var lots = new List<Lot> { Lot(1000, expiresAt: now.AddMinutes(30)) };
        var reservations = new List<Reservation>();
        var reversals = new Dictionary<Guid, ReversalHistory>();
        var minted = 1000L;
        var holdsOnExpired = 0;
        foreach (var op in history)
        {
            var byId = lots.ToDictionary(l => l.Id);
            var target = reservations.Count == 0 ? null : reservations[op.Target % reservations.Count];
            switch (op.Kind)
            {
                case 0:
                    lots.Add(Lot(op.Amount + 1, op.Target % 2 == 0 ? now.AddMinutes(op.Target + 1) : null, now));
                    minted += op.Amount + 1;
                    break;
                case 1:
                    var account = new AccountLots(AccountId, CommunityId, lots, reservations);
                    if (account.Reserve(Guid.NewGuid(), M(op.Amount), Guid.NewGuid().ToString(), null, now).IsSuccess)
                    {
                        var placed = account.Placed.Single();
                        holdsOnExpired += placed.Holds.Count(h => byId[h.LotId].IsExpiredAt(now));
                        reservations.Add(placed);
                    }

                    break;
                case 2 when target is not null:
                    target.Finalize(M(op.Amount), Guid.NewGuid().ToString(), new Usage(), byId);
                    break;
                case 3 when target is not null:
                    target.Release("released", byId);
                    break;
                case 4 when target is not null:
                    target.Expire("orphaned", byId);
                    break;
                case 5 when target is { Status: ReservationStatus.Finalized }:
                    var past = reversals.GetValueOrDefault(target.Id) ?? new ReversalHistory([], target.Holds.Select(h => h.LotId).Distinct()
                        .ToDictionary(id => id, id => (Charged: ChargedFrom(byId[id], target.Id), Reversed: Money.Zero)));
                    reversals[target.Id] = past;
                    target.Reverse(Guid.NewGuid(), M(op.Amount / 2 + 1), Guid.NewGuid().ToString(), "r", past, byId, now);
                    break;
                case 6:
                    now = now.AddMinutes(op.Amount % 20 + 1);
                    foreach (var lot in lots.Where(l => l.IsExpiredAt(now)))
                    {
                        lot.Expire(now);
                    }

                    break;
            }

            if (!Conserved(lots, reservations, reversals, minted))
            {
                return false;
            }
        }

        return holdsOnExpired == 0;
    }

    private static Money ChargedFrom(Lot lot, Guid reservationId) =>
        Money.Sum(lot.NewEntries.Where(e => e.ReservationId == reservationId && e.Kind == EntryKind.Charge).Select(e => e.Amount));

    private static bool Conserved(List<Lot> lots, List<Reservation> reservations, Dictionary<Guid, ReversalHistory> reversals, long minted)
    {
        var lotsWhole = lots.All(l => l.Available + l.Reserved + l.Consumed + l.Expired == l.Original
            && !l.Available.IsNegative && !l.Reserved.IsNegative && !l.Consumed.IsNegative && !l.Expired.IsNegative);
        var originals = Money.Sum(lots.Select(l => l.Original)) == M(minted);
        var held = Money.Sum(lots.Select(l => l.Reserved)) == Money.Sum(reservations.Where(r => r.Status == ReservationStatus.Pending).Select(r => r.Held));
        var charged = Money.Sum(reservations.Select(r => r.Charged ?? Money.Zero));
        var reversed = Money.Sum(reversals.Select(r => r.Value.ReversedTotalOf(r.Key)));
        var consumed = Money.Sum(lots.Select(l => l.Consumed)) == charged - reversed;
        // C5 in memory: each lot's entries replay to its columns.
        var replayed = lots.All(l => l.NewEntries[^1].Seq == l.Seq && l.NewEntries[^1].AvailableAfter == l.Available
            && l.NewEntries[^1].ReservedAfter == l.Reserved && l.NewEntries[^1].ConsumedAfter == l.Consumed && l.NewEntries[^1].ExpiredAfter == l.Expired
            && l.NewEntries.Select(e => e.Seq).SequenceEqual(Enumerable.Range(1, l.Seq)));
        return lotsWhole && originals && held && consumed && replayed;
    }
}
