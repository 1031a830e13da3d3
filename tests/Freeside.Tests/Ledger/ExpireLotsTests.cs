using Freeside.Features.Ledger;

namespace Freeside.Tests.Ledger;

public sealed class ExpireLotsTests(ClockedApp app) : IClassFixture<ClockedApp>
{
    private Task<long> LotColumnAsync(Guid lot, string column) =>
        app.Database.ScalarAsync<long>($"SELECT {column} FROM credit_lots WHERE id = @l", ("l", lot));

    private Task<long> ExpireEntriesAsync(Guid lot) =>
        app.Database.ScalarAsync<long>("SELECT count(*) FROM ledger_entries WHERE lot_id = @l AND kind = 'expire'", ("l", lot));

    [Fact]
    public async Task ExpireLots_LotPastExpiry_AvailableBecomesExpiredAndTheHoldStaysUntilSettled()
    {
        var (slug, account) = await app.FundedCommunityAsync(1000, app.Clock.GetUtcNow().AddHours(1));
        var lot = await app.Database.ScalarAsync<Guid>("SELECT id FROM credit_lots WHERE account_id = @a", ("a", account));
        var hold = (await app.SendAsync(new ReserveCredits.Command(account, 300, "before-expiry"))).Value;
        var before = LedgerTestKit.Counter(app.ScrapeMetrics(), "ledger_lots_expired_total");
        app.Clock.Advance(TimeSpan.FromHours(2));

        var swept = await app.SendAsync(new ExpireLots.Command());

        swept.Value.ShouldBeGreaterThanOrEqualTo(1);
        (await LotColumnAsync(lot, "available")).ShouldBe(0);
        (await LotColumnAsync(lot, "reserved")).ShouldBe(300);
        (await LotColumnAsync(lot, "expired")).ShouldBe(700);
        (await app.Database.ScalarAsync<string>("SELECT amount || ' ' || reason FROM ledger_entries WHERE lot_id = @l AND kind = 'expire'", ("l", lot)))
            .ShouldBe("700 lot expired");
        LedgerTestKit.Counter(app.ScrapeMetrics(), "ledger_lots_expired_total").ShouldBeGreaterThanOrEqualTo(before + 1);

        // The hold still settles; what it gives back lands on the expired lot and expires at the next sweep.
        var done = await app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 100, new Usage(), "fin-expiry"));
        done.Value.ReleasedMicro.ShouldBe(200);
        var balance = await app.SendAsync(new GetBalance.Query(slug));
        balance.Value.AvailableMicro.ShouldBe(0);
        balance.Value.ExpiredMicro.ShouldBe(900);
        (await app.SendAsync(new ExpireLots.Command())).Value.ShouldBeGreaterThanOrEqualTo(1);
        (await LotColumnAsync(lot, "available")).ShouldBe(0);
        (await LotColumnAsync(lot, "consumed")).ShouldBe(100);
        (await LotColumnAsync(lot, "expired")).ShouldBe(900);
        (await ExpireEntriesAsync(lot)).ShouldBe(2);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task ExpireLots_BeforeExpiry_TouchesNothing()
    {
        var (_, account) = await app.FundedCommunityAsync(1000, app.Clock.GetUtcNow().AddHours(1));
        var lot = await app.Database.ScalarAsync<Guid>("SELECT id FROM credit_lots WHERE account_id = @a", ("a", account));

        (await app.SendAsync(new ExpireLots.Command())).IsSuccess.ShouldBeTrue();

        (await LotColumnAsync(lot, "available")).ShouldBe(1000);
        (await LotColumnAsync(lot, "expired")).ShouldBe(0);
        (await ExpireEntriesAsync(lot)).ShouldBe(0);
    }

    [Fact]
    public async Task Reserve_PastExpiryBeforeTheSweep_NeverSpendsTheExpiredLot()
    {
        var (slug, account) = await app.FundedCommunityAsync(1000, app.Clock.GetUtcNow().AddHours(1));
        await app.GrantAsync(slug, 100);
        app.Clock.Advance(TimeSpan.FromHours(2));

        var hold = await app.SendAsync(new ReserveCredits.Command(account, 500, "after-expiry"));

        hold.Error.ShouldBeOfType<InsufficientCredits>().AvailableMicro.ShouldBe(100);
        var balance = await app.SendAsync(new GetBalance.Query(slug));
        balance.Value.AvailableMicro.ShouldBe(100);
        balance.Value.ExpiredMicro.ShouldBe(1000);
        (await app.SendAsync(new ReserveCredits.Command(account, 100, "the-rest"))).IsSuccess.ShouldBeTrue();
    }

    [Fact]
    public async Task ExpireLots_Twice_SecondSweepFindsNothingLeft()
    {
        var (_, account) = await app.FundedCommunityAsync(1000, app.Clock.GetUtcNow().AddHours(1));
        var lot = await app.Database.ScalarAsync<Guid>("SELECT id FROM credit_lots WHERE account_id = @a", ("a", account));
        app.Clock.Advance(TimeSpan.FromHours(2));
        (await app.SendAsync(new ExpireLots.Command())).Value.ShouldBeGreaterThanOrEqualTo(1);

        var again = await app.SendAsync(new ExpireLots.Command());

        again.Value.ShouldBe(0);
        (await ExpireEntriesAsync(lot)).ShouldBe(1);
        (await LotColumnAsync(lot, "expired")).ShouldBe(1000);
    }

    [Fact]
    public async Task ExpireLots_WhileAnotherReplicaSweeps_SkipsWithoutTouchingAnything()
    {
        var (_, account) = await app.FundedCommunityAsync(1000, app.Clock.GetUtcNow().AddHours(1));
        var lot = await app.Database.ScalarAsync<Guid>("SELECT id FROM credit_lots WHERE account_id = @a", ("a", account));
        app.Clock.Advance(TimeSpan.FromHours(2));
        await using var other = new Npgsql.NpgsqlConnection(app.Database.OwnerConnectionString);
        await other.OpenAsync();
        await using var transaction = await other.BeginTransactionAsync();
        await using (var hold = new Npgsql.NpgsqlCommand($"SELECT pg_advisory_xact_lock({0x4C45_4447_0002L})", other, transaction))
        {
            await hold.ExecuteNonQueryAsync();
        }

        var swept = await app.SendAsync(new ExpireLots.Command());

        swept.Value.ShouldBe(0);
        (await LotColumnAsync(lot, "available")).ShouldBe(1000);
        (await ExpireEntriesAsync(lot)).ShouldBe(0);
    }

    [Fact]
    public async Task ExpireLots_MoreLotsThanTheLimit_SweepsTheRestNextTime()
    {
        // Everything other tests left to expire goes first, so the counts below are this test's lots.
        app.Clock.Advance(TimeSpan.FromHours(2));
        await app.SendAsync(new ExpireLots.Command(10_000));
        var (slug, account) = await app.FundedCommunityAsync(100, app.Clock.GetUtcNow().AddMinutes(1));
        await app.GrantAsync(slug, 100, app.Clock.GetUtcNow().AddMinutes(1));
        await app.GrantAsync(slug, 100, app.Clock.GetUtcNow().AddMinutes(1));
        app.Clock.Advance(TimeSpan.FromMinutes(2));

        (await app.SendAsync(new ExpireLots.Command(Limit: 2))).Value.ShouldBe(2);
        (await app.SendAsync(new ExpireLots.Command(Limit: 2))).Value.ShouldBe(1);

        (await app.ScalarLongAsync("SELECT sum(expired) FROM credit_lots WHERE account_id = @a", account)).ShouldBe(300);
        await app.ShouldAuditCleanAsync();
    }
}
