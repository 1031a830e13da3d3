using Freeside.Features.Communities;
using Freeside.Features.Ledger;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Ledger;

internal static class LedgerTestKit
{
    public static async Task<(string Slug, Guid AccountId)> FundedCommunityAsync(this FreesideApp app, long amountMicro, DateTimeOffset? expiresAt = null)
    {
        var slug = "c" + Guid.NewGuid().ToString("N")[..12];
        (await app.SendAsync(new CreateCommunity.Command(slug, slug, 1, "0x" + new string('a', 40), AccessLevel.Pro))).IsSuccess.ShouldBeTrue();
        if (amountMicro == 0)
        {
            var community = await app.Database.ScalarAsync<Guid>("SELECT id FROM communities WHERE slug = @s", ("s", slug));
            return (slug, (await app.SendAsync(new OpenCreditAccount.Command(community, null))).Value);
        }

        var grant = await app.SendAsync(new GrantCredits.Command(slug, amountMicro, "test funding", "fund-" + slug, expiresAt));
        grant.IsSuccess.ShouldBeTrue(grant.Error?.Detail);
        return (slug, grant.Value.AccountId);
    }

    public static async Task<GrantCredits.GrantView> GrantAsync(this FreesideApp app, string slug, long amountMicro, DateTimeOffset? expiresAt = null)
    {
        var grant = await app.SendAsync(new GrantCredits.Command(slug, amountMicro, "more", Guid.NewGuid().ToString(), expiresAt));
        grant.IsSuccess.ShouldBeTrue(grant.Error?.Detail);
        return grant.Value;
    }

    /// <summary>A funded community with one reservation of <paramref name="held"/>, finalized charging <paramref name="charged"/>.</summary>
    public static async Task<(string Slug, Guid Account, Guid Reservation)> ChargedAsync(this FreesideApp app, long funded, long held, long charged)
    {
        var (slug, account) = await app.FundedCommunityAsync(funded);
        var hold = await app.SendAsync(new ReserveCredits.Command(account, held, "call-" + Guid.NewGuid()));
        hold.IsSuccess.ShouldBeTrue(hold.Error?.Detail);
        var done = await app.SendAsync(new FinalizeReservation.Command(account, hold.Value.ReservationId, charged, new Usage(), "fin-" + Guid.NewGuid()));
        done.IsSuccess.ShouldBeTrue(done.Error?.Detail);
        return (slug, account, hold.Value.ReservationId);
    }

    public static async Task ShouldAuditCleanAsync(this FreesideApp app)
    {
        var audit = await app.SendAsync(new AuditConservation.Command(null));
        audit.IsSuccess.ShouldBeTrue();
        audit.Value.Invariants.Where(i => !i.Ok).Select(i => $"{i.Id}: {i.Detail}").ShouldBeEmpty();
        audit.Value.Status.ShouldBe("ok");
    }

    public static Task<long> ScalarLongAsync(this FreesideApp app, string sql, Guid accountId) =>
        app.Database.ScalarAsync<long>(sql, ("a", accountId));

    public static Task<long> PendingHeldAsync(this FreesideApp app, Guid accountId) =>
        app.ScalarLongAsync("SELECT coalesce(sum(held), 0) FROM credit_reservations WHERE account_id = @a AND status = 'pending'", accountId);

    public static Task<long> AvailableAsync(this FreesideApp app, Guid accountId) =>
        app.ScalarLongAsync("SELECT coalesce(sum(available), 0) FROM credit_lots WHERE account_id = @a", accountId);

    public static long Counter(string metrics, string series) =>
        metrics.Split('\n').Where(l => l.StartsWith(series + " ", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture)).SingleOrDefault();
}
