using Freeside.Features.Ledger;
using Freeside.Features.Ledger.Domain;
using static Freeside.Tests.Ledger.Domain.DomainKit;

namespace Freeside.Tests.Ledger.Domain;

public sealed class AccountLotsTests
{
    [Fact]
    public void Reserve_AcrossLots_EarliestExpiryFirstThenOldestAndNoExpiryLast()
    {
        var never = Lot(100, createdAt: Start.AddMinutes(-30));
        var late = Lot(100, expiresAt: Start.AddDays(2));
        var soonOld = Lot(100, expiresAt: Start.AddDays(1), createdAt: Start.AddMinutes(-20));
        var soonNew = Lot(100, expiresAt: Start.AddDays(1), createdAt: Start.AddMinutes(-10));
        var account = Account(never, late, soonOld, soonNew);

        account.Reserve(Guid.NewGuid(), M(250), "k", null, Start).IsSuccess.ShouldBeTrue();

        account.Placed("k").Holds.Select(h => (h.LotId, h.Amount.Micro)).ShouldBe([(soonOld.Id, 100L), (soonNew.Id, 100L), (late.Id, 50L)]);
        never.Reserved.ShouldBe(M(0));
    }

    [Fact]
    public void Reserve_MoreThanSpendable_RefusedWholeAndNothingMoves()
    {
        var a = Lot(100);
        var b = Lot(100);
        var account = Account(a, b);

        var refused = account.Reserve(Guid.NewGuid(), M(201), "k", null, Start);

        var error = refused.Error.ShouldBeOfType<InsufficientCredits>();
        error.AvailableMicro.ShouldBe(200);
        a.Reserved.ShouldBe(M(0));
        b.Reserved.ShouldBe(M(0));
        account.Placed.ShouldBeEmpty();
    }

    [Fact]
    public void Reserve_ExpiredLotBeforeTheSweep_NeverSpent()
    {
        var expired = Lot(1000, expiresAt: Start.AddMinutes(-1), createdAt: Start.AddDays(-1));
        var account = Account(expired, Lot(100));

        account.Reserve(Guid.NewGuid(), M(101), "k", null, Start).Error.ShouldBeOfType<InsufficientCredits>().AvailableMicro.ShouldBe(100);
        account.SpendableAt(Start).ShouldBe(M(100));
        expired.Reserved.ShouldBe(M(0));
    }

    [Fact]
    public void Reserve_Zero_AllowedWithNoHolds()
    {
        var account = Account(Lot(100));

        var hold = account.Reserve(Guid.NewGuid(), M(0), "byok", null, Start);

        hold.Value.HeldMicro.ShouldBe(0);
        account.Placed("byok").Holds.ShouldBeEmpty();
    }

    [Fact]
    public void Reserve_SameKeySameAmount_ReplaysTheFirst()
    {
        var lot = Lot(1000);
        var account = Account(lot);
        var first = account.Reserve(Guid.NewGuid(), M(300), "k", null, Start).Value;

        var again = account.Reserve(Guid.NewGuid(), M(300), "k", null, Start).Value;

        again.Replayed.ShouldBeTrue();
        again.ReservationId.ShouldBe(first.ReservationId);
        lot.Reserved.ShouldBe(M(300));
    }

    [Fact]
    public void Reserve_SameKeyDifferentAmount_Refused()
    {
        var lot = Lot(1000);
        var account = Account(lot);
        account.Reserve(Guid.NewGuid(), M(300), "k", null, Start);

        account.Reserve(Guid.NewGuid(), M(301), "k", null, Start).Error.ShouldBeOfType<IdempotencyKeyReused>();
        lot.Reserved.ShouldBe(M(300));
    }

    [Fact]
    public void Reserve_KeyOfALoadedReservation_ReplaysIt()
    {
        var lot = Lot(1000);
        var earlier = new Reservation(Guid.NewGuid(), AccountId, CommunityId, "k", M(200), [new Hold(lot.Id, M(200))],
            ReservationStatus.Finalized, M(50), "fin", null, Start);
        var account = new AccountLots(AccountId, CommunityId, [lot], [earlier]);

        var again = account.Reserve(Guid.NewGuid(), M(200), "k", null, Start).Value;

        again.Replayed.ShouldBeTrue();
        again.ReservationId.ShouldBe(earlier.Id);
        again.Status.ShouldBe("finalized");
    }

    [Fact]
    public void Reserve_OtherAccountsLots_NotSpent()
    {
        var mine = Lot(100);
        var theirs = Lot(1000, account: Guid.NewGuid());
        var account = Account(mine, theirs);

        account.Reserve(Guid.NewGuid(), M(101), "k", null, Start).Error.ShouldBeOfType<InsufficientCredits>();
        theirs.Reserved.ShouldBe(M(0));
    }

    [Fact]
    public void Reservation_HoldsThatDoNotAddUpToHeld_Refused() =>
        Should.Throw<LedgerRuleViolation>(() => new Reservation(Guid.NewGuid(), AccountId, null, "k", M(200), [new Hold(Guid.NewGuid(), M(150))],
            ReservationStatus.Pending, null, null, null, Start));
}
