using Freeside.Features.Common;
using Freeside.Features.Ledger.Domain;

namespace Freeside.Tests.Ledger.Domain;

/// <summary>Builds domain objects in memory: these tests never touch PostgreSQL.</summary>
internal static class DomainKit
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    public static readonly Guid AccountId = Guid.Parse("0197a000-0000-7000-8000-000000000001");
    public static readonly Guid CommunityId = Guid.Parse("0197a000-0000-7000-8000-0000000000c1");

    public static Money M(long micro) => Money.FromMicro(micro);

    public static Lot Lot(long amount, DateTimeOffset? expiresAt = null, DateTimeOffset? createdAt = null, Guid? account = null) =>
        global::Freeside.Features.Ledger.Domain.Lot.Mint(Guid.CreateVersion7(), account ?? AccountId, CommunityId, M(amount), expiresAt, createdAt ?? Start, "test");

    public static AccountLots Account(params Lot[] lots) => new(AccountId, CommunityId, lots, []);

    public static Dictionary<Guid, Lot> ById(params Lot[] lots) => lots.ToDictionary(l => l.Id);

    /// <summary>C1 for one lot: the five columns add up to the original and none is negative.</summary>
    public static void ShouldConserve(this Lot lot)
    {
        (lot.Available + lot.Reserved + lot.Consumed + lot.Expired + lot.TakenBack).ShouldBe(lot.Original);
        lot.TakenBack.IsNegative.ShouldBeFalse();
        lot.Available.IsNegative.ShouldBeFalse();
        lot.Reserved.IsNegative.ShouldBeFalse();
        lot.Consumed.IsNegative.ShouldBeFalse();
        lot.Expired.IsNegative.ShouldBeFalse();
    }

    public static Reservation Placed(this AccountLots account, string key) => account.Placed.Single(r => r.IdempotencyKey == key);
}
