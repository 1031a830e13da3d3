using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Freeside.Features.Ledger;

namespace Freeside.Tests.Ledger;

public sealed class LedgerPropertyTests(ClockedApp app) : IClassFixture<ClockedApp>
{
    /// <summary>Kind: 0 grant, 1 reserve, 2 finalize, 3 release, 4 orphan sweep, 5 reverse, 6 clock forward + lot expiry sweep.</summary>
    public sealed record Step(int Kind, long Amount, int Target);

    public static class Steps
    {
        public static Arbitrary<Step[]> Sequences() => Arb.From(Gen.ListOf(
            from kind in Gen.Choose(0, 6)
            from amount in Gen.Choose(0, 400)
            from target in Gen.Choose(0, 30)
            select new Step(kind, amount, target)).Select(list => list.Take(24).ToArray()));
    }

    [Property(MaxTest = 40, Arbitrary = [typeof(Steps)])]
    public async Task<bool> RandomInterleavings_OfGrantReserveFinalizeReleaseExpireReverse_KeepC1ToC5(Step[] sequence)
    {
        await app.StartedAsync();
        // Half of the funding expires within the run's clock moves, so holds, charges and expiry meet.
        var (slug, account) = await app.FundedCommunityAsync(500, app.Clock.GetUtcNow().AddMinutes(30));
        await app.GrantAsync(slug, 500);
        var granted = 1000L;
        var holds = new List<Guid>();
        var gate = new Lock();
        foreach (var wave in sequence.Chunk(4))
        {
            var outcomes = await Task.WhenAll(wave.Select(step => Task.Run<string?>(async () =>
            {
                Guid target;
                lock (gate)
                {
                    target = holds.Count == 0 ? Guid.Empty : holds[step.Target % holds.Count];
                }

                switch (step.Kind)
                {
                    case 0:
                        // Past what one wave's concurrent clock moves can add (4 × 20 min), so the grant's
                        // "expires_at must be in the future" holds when it is validated; before the final 2 h move.
                        var expiresAt = step.Target % 2 == 0 ? app.Clock.GetUtcNow().AddMinutes(step.Target + 81) : (DateTimeOffset?)null;
                        var grant = await app.SendAsync(new GrantCredits.Command(slug, step.Amount + 1, "prop", Guid.NewGuid().ToString(), expiresAt));
                        Interlocked.Add(ref granted, step.Amount + 1);
                        return grant.Error?.Type;
                    case 1:
                        var hold = await app.SendAsync(new ReserveCredits.Command(account, step.Amount, Guid.NewGuid().ToString()));
                        if (hold.IsSuccess)
                        {
                            lock (gate)
                            {
                                holds.Add(hold.Value.ReservationId);
                            }
                        }

                        return hold.Error is null or InsufficientCredits ? null : hold.Error.Type;
                    case 2 when target != Guid.Empty:
                        var done = await app.SendAsync(new FinalizeReservation.Command(account, target, step.Amount, new Usage(), Guid.NewGuid().ToString()));
                        return done.Error is null or ReservationSettled ? null : done.Error.Type;
                    case 3 when target != Guid.Empty:
                        var released = await app.SendAsync(new ReleaseReservation.Command(account, target, "prop"));
                        return released.Error is null or ReservationSettled ? null : released.Error.Type;
                    case 4:
                        var sweep = await app.SendAsync(new ReleaseOrphanedHolds.Command(OlderThanSeconds: 0));
                        return sweep.Error?.Type;
                    case 5 when target != Guid.Empty:
                        var reversed = await app.SendAsync(new ReverseCharge.Command(slug, target, step.Amount / 2 + 1, "prop", Guid.NewGuid().ToString()));
                        return reversed.Error is null or ReservationNotCharged or ReversalExceedsCharge ? null : reversed.Error.Type;
                    case 6:
                        app.Clock.Advance(TimeSpan.FromMinutes(step.Amount % 20 + 1));
                        var expired = await app.SendAsync(new ExpireLots.Command());
                        return expired.Error?.Type;
                    default:
                        return null;
                }
            })));
            if (outcomes.FirstOrDefault(o => o is not null) is { } unexpected)
            {
                throw new InvalidOperationException($"unexpected failure {unexpected}");
            }
        }

        var midway = await app.SendAsync(new AuditConservation.Command(slug));

        // Then every hold is swept and every expiring lot passes its expiry: what was not consumed expires.
        (await app.SendAsync(new ReleaseOrphanedHolds.Command(OlderThanSeconds: 0))).IsSuccess.ShouldBeTrue();
        app.Clock.Advance(TimeSpan.FromHours(2));
        (await app.SendAsync(new ExpireLots.Command())).IsSuccess.ShouldBeTrue();
        var audit = await app.SendAsync(new AuditConservation.Command(slug));

        var sums = await app.ScalarLongAsync("SELECT coalesce(sum(available + reserved + consumed + expired), 0) FROM credit_lots WHERE account_id = @a", account);
        var charged = await app.ScalarLongAsync("SELECT coalesce(sum(amount_micro), 0) FROM usage_events WHERE account_id = @a", account);
        var reversedTotal = await app.ScalarLongAsync("SELECT coalesce(sum(amount), 0) FROM credit_reversals WHERE account_id = @a", account);
        var consumed = await app.ScalarLongAsync("SELECT coalesce(sum(consumed), 0) FROM credit_lots WHERE account_id = @a", account);
        var notFullyExpired = await app.ScalarLongAsync(
            "SELECT count(*) FROM credit_lots WHERE account_id = @a AND expires_at IS NOT NULL AND (available <> 0 OR reserved <> 0 OR expired <> original - consumed)", account);
        var holdsOnExpiredLots = await app.ScalarLongAsync("""
            SELECT count(*) FROM ledger_entries e JOIN credit_lots l ON l.id = e.lot_id
            WHERE e.account_id = @a AND e.kind = 'hold' AND l.expires_at <= e.created_at
            """, account);
        var expiredTotal = await app.ScalarLongAsync("SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE account_id = @a AND kind = 'expire'", account);
        var expiringLeft = await app.ScalarLongAsync("SELECT coalesce(sum(original - consumed), 0) FROM credit_lots WHERE account_id = @a AND expires_at IS NOT NULL", account);
        return midway.Value.Status == "ok" && audit.Value.Status == "ok" && sums == granted && charged - reversedTotal == consumed
            && notFullyExpired == 0 && holdsOnExpiredLots == 0 && expiredTotal == expiringLeft;
    }
}
