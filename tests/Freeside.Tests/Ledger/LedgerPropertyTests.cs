using FsCheck;
using FsCheck.Fluent;
using Freeside.Features.Ledger;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Ledger;

public sealed class LedgerPropertyTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    public sealed record Step(int Kind, long Amount, int Target);

    [Fact]
    public void RandomInterleavings_OfGrantReserveFinalizeReleaseExpireReverse_KeepC1ToC5()
    {
        var steps = Gen.ListOf(
            from kind in Gen.Choose(0, 5)
            from amount in Gen.Choose(0, 400)
            from target in Gen.Choose(0, 30)
            select new Step(kind, amount, target)).Select(list => list.Take(24).ToArray());

        var property = Prop.ForAll(Arb.From(steps), sequence => RunAsync(sequence).GetAwaiter().GetResult());

        Check.One(Config.QuickThrowOnFailure.WithMaxTest(40), property);
    }

    /// <summary>Runs the steps in waves of four concurrent ones, then checks the guard never fired, the audit and the sums.</summary>
    private async Task<bool> RunAsync(Step[] sequence)
    {
        var (slug, account) = await app.FundedCommunityAsync(500);
        var granted = 500L;
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
                        var grant = await app.SendAsync(new GrantCredits.Command(slug, step.Amount + 1, "prop", Guid.NewGuid().ToString()));
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
                    default:
                        return null;
                }
            })));
            if (outcomes.FirstOrDefault(o => o is not null) is { } unexpected)
            {
                throw new InvalidOperationException($"unexpected failure {unexpected}");
            }
        }

        var audit = await app.SendAsync(new AuditConservation.Command(slug));
        var sums = await app.Database.ScalarAsync<long>(
            "SELECT coalesce(sum(available + reserved + consumed), 0) FROM credit_lots WHERE account_id = @a", ("a", account));
        var charged = await app.ScalarLongAsync("SELECT coalesce(sum(amount_micro), 0) FROM usage_events WHERE account_id = @a", account);
        var reversedTotal = await app.ScalarLongAsync("SELECT coalesce(sum(amount), 0) FROM credit_reversals WHERE account_id = @a", account);
        var consumed = await app.ScalarLongAsync("SELECT coalesce(sum(consumed), 0) FROM credit_lots WHERE account_id = @a", account);
        return audit.Value.Status == "ok" && sums == granted && charged - reversedTotal == consumed;
    }
}
