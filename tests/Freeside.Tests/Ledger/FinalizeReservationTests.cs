using Freeside.Features.Ledger;
using Freeside.Features.Ledger.Domain;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Ledger;

public sealed class FinalizeReservationTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Finalize_ChargesActualCost_ReleasesRestAndWritesOneUsageEvent()
    {
        var (_, account) = await app.FundedCommunityAsync(1000);
        var hold = (await app.SendAsync(new ReserveCredits.Command(account, 300, "call-1"))).Value;

        var done = await app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 120,
            new Usage("nft-7", "cheap", 50, 80), "fin-1"));

        done.IsSuccess.ShouldBeTrue(done.Error?.Detail);
        done.Value.ChargedMicro.ShouldBe(120);
        done.Value.ReleasedMicro.ShouldBe(180);
        (await app.AvailableAsync(account)).ShouldBe(880);
        (await app.PendingHeldAsync(account)).ShouldBe(0);
        (await app.Database.ScalarAsync<string>(
            "SELECT concat_ws('/', nft_id, pool_id, tokens_input, tokens_output, amount_micro, finalization_id, conservation_guard_result) FROM usage_events WHERE reservation_id = @r",
            ("r", hold.ReservationId))).ShouldBe("nft-7/cheap/50/80/120/fin-1/t");
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Finalize_Twice_ReturnsFirstResultAndChargesOnce()
    {
        var (_, account) = await app.FundedCommunityAsync(1000);
        var hold = (await app.SendAsync(new ReserveCredits.Command(account, 300, "call-2"))).Value;
        await app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 100, new Usage(), "fin-2"));

        var again = await app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 250, new Usage(), "fin-2b"));

        again.Value.Replayed.ShouldBeTrue();
        again.Value.ChargedMicro.ShouldBe(100);
        (await app.ScalarLongAsync("SELECT count(*) FROM usage_events WHERE account_id = @a", account)).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(900);
    }

    [Fact]
    public async Task Finalize_ChargeAboveHold_IsClampedToHoldAndCounted()
    {
        var (_, account) = await app.FundedCommunityAsync(1000);
        var hold = (await app.SendAsync(new ReserveCredits.Command(account, 300, "call-3"))).Value;
        var before = LedgerTestKit.Counter(app.ScrapeMetrics(), "ledger_charge_clamped_total");

        var done = await app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 999, new Usage(), "fin-3"));

        done.Value.ChargedMicro.ShouldBe(300);
        done.Value.Clamped.ShouldBeTrue();
        (await app.AvailableAsync(account)).ShouldBe(700);
        (await app.Database.ScalarAsync<long>("SELECT requested_micro FROM usage_events WHERE reservation_id = @r", ("r", hold.ReservationId))).ShouldBe(999);
        // At least: test classes run in parallel and share the meter, so others may clamp too.
        LedgerTestKit.Counter(app.ScrapeMetrics(), "ledger_charge_clamped_total").ShouldBeGreaterThanOrEqualTo(before + 1);
    }

    [Fact]
    public async Task Finalize_AfterRelease_IsSettledConflict()
    {
        var (_, account) = await app.FundedCommunityAsync(1000);
        var hold = (await app.SendAsync(new ReserveCredits.Command(account, 300, "call-4"))).Value;
        var released = await app.SendAsync(new ReleaseReservation.Command(account, hold.ReservationId, "upstream refused"));

        var late = await app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 10, new Usage(), "fin-4"));

        released.Value.Status.ShouldBe("released");
        late.Error.ShouldBeOfType<ReservationSettled>().Status.ShouldBe(ReservationStatus.Released);
        (await app.AvailableAsync(account)).ShouldBe(1000);
        (await app.ScalarLongAsync("SELECT count(*) FROM usage_events WHERE account_id = @a", account)).ShouldBe(0);
    }

    [Fact]
    public async Task Release_AfterFinalize_IsSettledConflictAndChangesNothing()
    {
        var (_, account) = await app.FundedCommunityAsync(1000);
        var hold = (await app.SendAsync(new ReserveCredits.Command(account, 300, "call-5"))).Value;
        await app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 100, new Usage(), "fin-5"));

        var late = await app.SendAsync(new ReleaseReservation.Command(account, hold.ReservationId, "too late"));

        late.Error.ShouldBeOfType<ReservationSettled>().Status.ShouldBe(ReservationStatus.Finalized);
        (await app.AvailableAsync(account)).ShouldBe(900);
    }

    [Fact]
    public async Task Finalize_FinalizationIdOfAnotherReservation_IsConflict()
    {
        var (_, account) = await app.FundedCommunityAsync(1000);
        var first = (await app.SendAsync(new ReserveCredits.Command(account, 100, "call-6a"))).Value;
        var second = (await app.SendAsync(new ReserveCredits.Command(account, 100, "call-6b"))).Value;
        await app.SendAsync(new FinalizeReservation.Command(account, first.ReservationId, 10, new Usage(), "fin-6"));

        var reused = await app.SendAsync(new FinalizeReservation.Command(account, second.ReservationId, 10, new Usage(), "fin-6"));

        reused.Error.ShouldBeOfType<FinalizationIdReused>();
        (await app.Database.ScalarAsync<string>("SELECT status FROM credit_reservations WHERE id = @r", ("r", second.ReservationId))).ShouldBe("pending");
    }

    [Fact]
    public async Task FinalizeAndRelease_Race100Rounds_ExactlyOneWinsEachTime()
    {
        var (_, account) = await app.FundedCommunityAsync(1_000_000);
        for (var round = 0; round < 100; round++)
        {
            var hold = (await app.SendAsync(new ReserveCredits.Command(account, 500, $"race-{round}"))).Value;
            using var start = new ManualResetEventSlim();
            var finalize = Task.Run(() => { start.Wait(); return app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 200, new Usage(), $"fin-race-{round}")); });
            var release = Task.Run(() => { start.Wait(); return app.SendAsync(new ReleaseReservation.Command(account, hold.ReservationId, "client went away")); });
            start.Set();
            var (finalized, released) = (await finalize, await release);

            (finalized.IsSuccess ^ released.IsSuccess).ShouldBeTrue($"round {round}: finalize {finalized.Error?.Type ?? "won"}, release {released.Error?.Type ?? "won"}");
            (finalized.IsSuccess ? released.Error : finalized.Error).ShouldBeOfType<ReservationSettled>();
        }

        (await app.PendingHeldAsync(account)).ShouldBe(0);
        (await app.ScalarLongAsync("SELECT count(*) FROM usage_events WHERE account_id = @a", account))
            .ShouldBe(await app.ScalarLongAsync("SELECT count(*) FROM credit_reservations WHERE account_id = @a AND status = 'finalized'", account));
        await app.ShouldAuditCleanAsync();
    }
}
