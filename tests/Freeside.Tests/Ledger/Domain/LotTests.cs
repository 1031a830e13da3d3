using Freeside.Features.Ledger.Domain;
using static Freeside.Tests.Ledger.Domain.DomainKit;

namespace Freeside.Tests.Ledger.Domain;

public sealed class LotTests
{
    [Fact]
    public void Mint_PositiveAmount_AllAvailableWithOneMintEntry()
    {
        var lot = Lot(500);

        lot.Available.ShouldBe(M(500));
        lot.Seq.ShouldBe(1);
        var entry = lot.NewEntries.ShouldHaveSingleItem();
        entry.Kind.ShouldBe(EntryKind.Mint);
        entry.Amount.ShouldBe(M(500));
        entry.AvailableAfter.ShouldBe(M(500));
        lot.ShouldConserve();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Mint_ZeroOrNegative_Refused(long amount) =>
        Should.Throw<LedgerRuleViolation>(() => Lot(amount));

    [Fact]
    public void Restore_ColumnsThatDoNotAddUp_Refused() =>
        Should.Throw<LedgerRuleViolation>(() => new Lot(Guid.NewGuid(), AccountId, null, M(100), M(60), M(30), M(0), M(0), 2, null, Start));

    [Fact]
    public void Restore_NegativeColumn_Refused() =>
        Should.Throw<LedgerRuleViolation>(() => new Lot(Guid.NewGuid(), AccountId, null, M(100), M(110), M(-10), M(0), M(0), 2, null, Start));

    [Fact]
    public void Expire_PastExpiry_MovesAvailableToExpiredWithOneEntry()
    {
        var lot = Lot(500, expiresAt: Start.AddHours(1));

        var expired = lot.Expire(Start.AddHours(1));

        expired.ShouldBe(M(500));
        lot.Available.ShouldBe(M(0));
        lot.Expired.ShouldBe(M(500));
        lot.NewEntries[^1].Kind.ShouldBe(EntryKind.Expire);
        lot.NewEntries[^1].Seq.ShouldBe(2);
        lot.ShouldConserve();
    }

    [Fact]
    public void Expire_BeforeExpiry_Refused()
    {
        var lot = Lot(500, expiresAt: Start.AddHours(1));

        Should.Throw<LedgerRuleViolation>(() => lot.Expire(Start.AddMinutes(59)));
        lot.Available.ShouldBe(M(500));
    }

    [Fact]
    public void Expire_LotWithoutExpiry_Refused() =>
        Should.Throw<LedgerRuleViolation>(() => Lot(500).Expire(Start.AddYears(10)));

    [Fact]
    public void Expire_NothingAvailable_ExpiresNothingAndWritesNoEntry()
    {
        var lot = Lot(500, expiresAt: Start.AddHours(1));
        lot.Expire(Start.AddHours(2));
        var entries = lot.NewEntries.Count;

        lot.Expire(Start.AddHours(3)).ShouldBe(M(0));

        lot.NewEntries.Count.ShouldBe(entries);
        lot.Expired.ShouldBe(M(500));
    }

    [Fact]
    public void Expire_WithAHoldOnIt_LeavesTheHoldReserved()
    {
        var lot = Lot(500, expiresAt: Start.AddHours(1));
        var account = Account(lot);
        account.Reserve(Guid.NewGuid(), M(200), "k", null, Start).IsSuccess.ShouldBeTrue();

        lot.Expire(Start.AddHours(1)).ShouldBe(M(300));

        lot.Reserved.ShouldBe(M(200));
        lot.Expired.ShouldBe(M(300));
        lot.ShouldConserve();
    }

    [Fact]
    public void IsSpendableAt_ExpiryIsExclusive()
    {
        var lot = Lot(500, expiresAt: Start.AddHours(1));

        lot.IsSpendableAt(Start.AddMinutes(59)).ShouldBeTrue();
        lot.IsSpendableAt(Start.AddHours(1)).ShouldBeFalse();
    }
}
