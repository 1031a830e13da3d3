using Freeside.Features.Ledger;
using Freeside.Features.Ledger.Domain;
using static Freeside.Tests.Ledger.Domain.DomainKit;

namespace Freeside.Tests.Ledger.Domain;

/// <summary>Refunds in memory: the clawback's order, the debt it leaves, and the purchase that repays it first.</summary>
public sealed class ClawbackTests
{
    [Fact]
    public void ClawBack_PurchaseUnspent_TakesExactlyItsCreditsFromItsOwnLot()
    {
        var other = Lot(300, createdAt: Start.AddMinutes(-10));
        var purchase = Lot(1_000);
        var account = Account(other, purchase);

        var outcome = account.ClawBack(purchase.Id, M(1_000), "refund", Start);

        outcome.ShouldBe(new ClawbackOutcome(M(1_000), M(0)));
        purchase.Available.ShouldBe(M(0));
        purchase.TakenBack.ShouldBe(M(1_000));
        other.Available.ShouldBe(M(300));
        other.NewEntries.Count.ShouldBe(1);
        purchase.NewEntries.Last().Kind.ShouldBe(EntryKind.Clawback);
        purchase.NewEntries.Last().TakenBackAfter.ShouldBe(M(1_000));
        account.Debt.ShouldBe(M(0));
        purchase.ShouldConserve();
    }

    [Fact]
    public void ClawBack_PurchasePartlySpent_TakesTheRestFromOtherLotsInReserveOrder_NeverReservedNorExpired()
    {
        var purchase = Lot(1_000);
        var expired = Lot(500, expiresAt: Start.AddMinutes(-1), createdAt: Start.AddDays(-2));
        var soon = Lot(100, expiresAt: Start.AddDays(1));
        var never = Lot(400, createdAt: Start.AddMinutes(-5));
        var account = Account(purchase, expired, soon, never);
        // Reserve order: soon (100), then never (older, 400), then 400 of the purchase.
        account.Reserve(Guid.NewGuid(), M(900), "spent", null, Start).IsSuccess.ShouldBeTrue();
        var extra = Lot(250, createdAt: Start.AddMinutes(1));
        var withExtra = new AccountLots(AccountId, CommunityId, [purchase, expired, soon, never, extra], []);

        var outcome = withExtra.ClawBack(purchase.Id, M(1_000), "refund", Start);

        outcome.ShouldBe(new ClawbackOutcome(M(850), M(150)));
        withExtra.Debt.ShouldBe(M(150));
        purchase.TakenBack.ShouldBe(M(600));
        extra.TakenBack.ShouldBe(M(250));
        purchase.Reserved.ShouldBe(M(400));
        never.Reserved.ShouldBe(M(400));
        soon.Reserved.ShouldBe(M(100));
        expired.Available.ShouldBe(M(500));
        expired.TakenBack.ShouldBe(M(0));
        foreach (var lot in new[] { purchase, expired, soon, never, extra })
        {
            lot.ShouldConserve();
        }
    }

    [Fact]
    public void ClawBack_EverythingSpent_RecordsTheWholeAmountAsDebt()
    {
        var purchase = Lot(1_000);
        var account = Account(purchase);
        account.Reserve(Guid.NewGuid(), M(1_000), "all", null, Start).IsSuccess.ShouldBeTrue();

        var outcome = account.ClawBack(purchase.Id, M(1_000), "refund", Start);

        outcome.ShouldBe(new ClawbackOutcome(M(0), M(1_000)));
        account.Debt.ShouldBe(M(1_000));
        purchase.NewEntries.ShouldAllBe(e => e.Kind != EntryKind.Clawback);
    }

    [Fact]
    public void Reserve_AccountInDebt_RefusedAndNothingHeld()
    {
        var lot = Lot(5_000);
        var account = new AccountLots(AccountId, CommunityId, [lot], [], M(1));

        var refused = account.Reserve(Guid.NewGuid(), M(10), "k", null, Start);

        refused.Error.ShouldBeOfType<AccountInDebt>().DebtMicro.ShouldBe(1);
        lot.Reserved.ShouldBe(M(0));
        lot.Available.ShouldBe(M(5_000));
        account.Placed.ShouldBeEmpty();
    }

    [Fact]
    public void Repay_PurchaseLargerThanDebt_RepaysTheDebtFirstAndLeavesTheRestSpendable()
    {
        var purchase = Lot(1_000);
        var account = new AccountLots(AccountId, CommunityId, [purchase], [], M(300));

        var repaid = account.Repay(purchase, "repay");

        repaid.ShouldBe(M(300));
        account.Debt.ShouldBe(M(0));
        purchase.Available.ShouldBe(M(700));
        purchase.TakenBack.ShouldBe(M(300));
        purchase.NewEntries.Select(e => e.Kind).ShouldBe([EntryKind.Mint, EntryKind.Repay]);
        purchase.ShouldConserve();
        account.Reserve(Guid.NewGuid(), M(700), "k", null, Start).IsSuccess.ShouldBeTrue();
    }

    [Fact]
    public void Repay_PurchaseSmallerThanDebt_TakesItAllAndTheAccountStaysInDebt()
    {
        var purchase = Lot(200);
        var account = new AccountLots(AccountId, CommunityId, [purchase], [], M(300));

        account.Repay(purchase, "repay").ShouldBe(M(200));

        account.Debt.ShouldBe(M(100));
        purchase.Available.ShouldBe(M(0));
        account.Reserve(Guid.NewGuid(), M(0), "byok", null, Start).Error.ShouldBeOfType<AccountInDebt>();
    }

    [Fact]
    public void ClawBack_NothingToTakeBack_IsABug()
    {
        var account = Account(Lot(100));

        Should.Throw<LedgerRuleViolation>(() => account.ClawBack(null, M(0), "refund", Start));
    }
}
