using Freeside.Features.Ledger;
using Freeside.Features.Ledger.Domain;
using static Freeside.Tests.Ledger.Domain.DomainKit;

namespace Freeside.Tests.Ledger.Domain;

public sealed class ReservationTests
{
    private static (Lot Lot, AccountLots Account, Reservation Hold) Held(long funded, long held)
    {
        var lot = Lot(funded);
        var account = Account(lot);
        account.Reserve(Guid.NewGuid(), M(held), "call", null, Start).IsSuccess.ShouldBeTrue();
        return (lot, account, account.Placed("call"));
    }

    [Fact]
    public void Finalize_Pending_ChargesAndReturnsTheRest()
    {
        var (lot, _, hold) = Held(1000, 300);

        var done = hold.Finalize(M(120), "fin", new Usage(), ById(lot));

        done.Value.ChargedMicro.ShouldBe(120);
        done.Value.ReleasedMicro.ShouldBe(180);
        done.Value.Replayed.ShouldBeFalse();
        hold.Status.ShouldBe(ReservationStatus.Finalized);
        hold.NewUsage!.Charged.ShouldBe(M(120));
        lot.Available.ShouldBe(M(880));
        lot.Consumed.ShouldBe(M(120));
        lot.Reserved.ShouldBe(M(0));
        lot.NewEntries.Select(e => e.Kind).ShouldBe([EntryKind.Mint, EntryKind.Hold, EntryKind.Charge, EntryKind.Release]);
        lot.ShouldConserve();
    }

    [Fact]
    public void Finalize_MoreThanHeld_ClampedToTheHold()
    {
        var (lot, _, hold) = Held(1000, 300);

        var done = hold.Finalize(M(999), "fin", new Usage(), ById(lot));

        done.Value.ChargedMicro.ShouldBe(300);
        done.Value.Clamped.ShouldBeTrue();
        hold.NewUsage!.Requested.ShouldBe(M(999));
        lot.Consumed.ShouldBe(M(300));
    }

    [Fact]
    public void Finalize_Twice_SecondIsAReplayAndMovesNothing()
    {
        var (lot, _, hold) = Held(1000, 300);
        hold.Finalize(M(100), "fin", new Usage(), ById(lot));
        var entries = lot.NewEntries.Count;

        var again = hold.Finalize(M(250), "fin-2", new Usage(), ById(lot));

        again.Value.Replayed.ShouldBeTrue();
        again.Value.ChargedMicro.ShouldBe(100);
        again.Value.FinalizationId.ShouldBe("fin");
        lot.NewEntries.Count.ShouldBe(entries);
        lot.Consumed.ShouldBe(M(100));
    }

    [Fact]
    public void Finalize_AfterRelease_RefusedAsSettled()
    {
        var (lot, _, hold) = Held(1000, 300);
        hold.Release("never called", ById(lot));

        var late = hold.Finalize(M(10), "fin", new Usage(), ById(lot));

        late.Error.ShouldBeOfType<ReservationSettled>().Status.ShouldBe(ReservationStatus.Released);
        lot.Consumed.ShouldBe(M(0));
        lot.Available.ShouldBe(M(1000));
    }

    [Fact]
    public void Release_AfterFinalize_RefusedAsSettled()
    {
        var (lot, _, hold) = Held(1000, 300);
        hold.Finalize(M(100), "fin", new Usage(), ById(lot));

        hold.Release("late", ById(lot)).Error.ShouldBeOfType<ReservationSettled>().Status.ShouldBe(ReservationStatus.Finalized);
        lot.Available.ShouldBe(M(900));
    }

    [Fact]
    public void Release_Twice_SecondIsAReplay()
    {
        var (lot, _, hold) = Held(1000, 300);
        hold.Release("first", ById(lot)).Value.Replayed.ShouldBeFalse();

        hold.Release("second", ById(lot)).Value.Replayed.ShouldBeTrue();

        lot.Available.ShouldBe(M(1000));
        lot.NewEntries.Count(e => e.Kind == EntryKind.Release).ShouldBe(1);
    }

    [Fact]
    public void Expire_Pending_ReturnsTheHoldAsExpireHold()
    {
        var (lot, _, hold) = Held(1000, 300);

        var swept = hold.Expire("orphaned", ById(lot));

        swept.Value.Status.ShouldBe("expired");
        hold.SettleReason.ShouldBe("orphaned");
        lot.NewEntries[^1].Kind.ShouldBe(EntryKind.ExpireHold);
        lot.Available.ShouldBe(M(1000));
        hold.Finalize(M(1), "fin", new Usage(), ById(lot)).Error.ShouldBeOfType<ReservationSettled>().Status.ShouldBe(ReservationStatus.Expired);
    }

    [Fact]
    public void Finalize_HeldLotNotLoaded_IsABug()
    {
        var (_, _, hold) = Held(1000, 300);

        Should.Throw<LedgerRuleViolation>(() => hold.Finalize(M(10), "fin", new Usage(), ById()));
    }

    [Fact]
    public void Reverse_PartOfACharge_GoesBackToAvailable()
    {
        var (lot, _, hold) = Held(1000, 300);
        hold.Finalize(M(200), "fin", new Usage(), ById(lot));
        var history = new ReversalHistory([], new Dictionary<Guid, (Features.Common.Money, Features.Common.Money)> { [lot.Id] = (M(200), M(0)) });

        var reversal = hold.Reverse(Guid.NewGuid(), M(50), "refund", "cut off", history, ById(lot), Start);

        reversal.Value.Amount.ShouldBe(M(50));
        lot.Consumed.ShouldBe(M(150));
        lot.Available.ShouldBe(M(850));
        lot.NewEntries[^1].Kind.ShouldBe(EntryKind.Reverse);
        history.ReversedTotalOf(hold.Id).ShouldBe(M(50));
        hold.NewReversals.ShouldHaveSingleItem();
        lot.ShouldConserve();
    }

    [Fact]
    public void Reverse_MoreThanLeftOfTheCharge_Refused()
    {
        var (lot, _, hold) = Held(1000, 300);
        hold.Finalize(M(200), "fin", new Usage(), ById(lot));
        var history = new ReversalHistory([new Reversal(Guid.NewGuid(), hold.Id, "earlier", M(150), "r", Start)],
            new Dictionary<Guid, (Features.Common.Money, Features.Common.Money)> { [lot.Id] = (M(200), M(150)) });

        var refused = hold.Reverse(Guid.NewGuid(), M(51), "refund", "r", history, ById(lot), Start);

        refused.Error.ShouldBeOfType<ReversalExceedsCharge>().ReversibleMicro.ShouldBe(50);
        lot.Consumed.ShouldBe(M(200));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Reverse_NotFinalized_RefusedAsNotCharged(bool released)
    {
        var (lot, _, hold) = Held(1000, 300);
        if (released)
        {
            hold.Release("r", ById(lot));
        }

        hold.Reverse(Guid.NewGuid(), M(1), "k", "r", new ReversalHistory([], new Dictionary<Guid, (Features.Common.Money, Features.Common.Money)>()), ById(lot), Start)
            .Error.ShouldBeOfType<ReservationNotCharged>().Status.ShouldBe(released ? ReservationStatus.Released : ReservationStatus.Pending);
    }

    [Fact]
    public void Reverse_ChargeAcrossTwoLots_LastChargedLotFirst()
    {
        var first = Lot(100, expiresAt: Start.AddDays(1));
        var second = Lot(1000);
        var account = Account(first, second);
        account.Reserve(Guid.NewGuid(), M(300), "call", null, Start);
        var hold = account.Placed("call");
        hold.Finalize(M(300), "fin", new Usage(), ById(first, second));
        var history = new ReversalHistory([], new Dictionary<Guid, (Features.Common.Money, Features.Common.Money)>
        {
            [first.Id] = (M(100), M(0)),
            [second.Id] = (M(200), M(0)),
        });

        hold.Reverse(Guid.NewGuid(), M(250), "k", "r", history, ById(first, second), Start).IsSuccess.ShouldBeTrue();

        second.Consumed.ShouldBe(M(0));
        first.Consumed.ShouldBe(M(50));
    }

    [Fact]
    public void Replay_SameKeyReservationAndAmount_ReturnsTheEarlierReversal_OtherwiseRefused()
    {
        var reservation = Guid.NewGuid();
        var earlier = new Reversal(Guid.NewGuid(), reservation, "refund-1", M(40), "r", Start);
        var history = new ReversalHistory([earlier], new Dictionary<Guid, (Features.Common.Money, Features.Common.Money)>());

        history.Replay("refund-1", reservation, M(40))!.Value.Value.ShouldBe(earlier);
        history.Replay("refund-1", reservation, M(41))!.Value.Error.ShouldBeOfType<IdempotencyKeyReused>();
        history.Replay("refund-1", Guid.NewGuid(), M(40))!.Value.Error.ShouldBeOfType<IdempotencyKeyReused>();
        history.Replay("refund-2", reservation, M(40)).ShouldBeNull();
    }
}
