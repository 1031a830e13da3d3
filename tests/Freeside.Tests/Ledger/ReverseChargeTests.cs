using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Ledger;
using Freeside.Features.Ledger.Domain;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Ledger;

public sealed class ReverseChargeTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private Task<long> ConsumedAsync(Guid account) =>
        app.ScalarLongAsync("SELECT coalesce(sum(consumed), 0) FROM credit_lots WHERE account_id = @a", account);

    [Fact]
    public async Task Reverse_PartOfACharge_ReturnsItToAvailableWithOneReverseEntry()
    {
        var (slug, account, reservation) = await app.ChargedAsync(1000, 400, 300);

        var reversed = await app.SendAsync(new ReverseCharge.Command(slug, reservation, 120, "answer was cut off", "refund-1"));

        reversed.IsSuccess.ShouldBeTrue(reversed.Error?.Detail);
        reversed.Value.AmountMicro.ShouldBe(120);
        reversed.Value.ChargedMicro.ShouldBe(300);
        reversed.Value.ReversedTotalMicro.ShouldBe(120);
        reversed.Value.Replayed.ShouldBeFalse();
        (await app.AvailableAsync(account)).ShouldBe(1000 - 300 + 120);
        (await ConsumedAsync(account)).ShouldBe(180);
        (await app.Database.ScalarAsync<string>(
            "SELECT string_agg(kind || ':' || amount || ':' || reason, ',') FROM ledger_entries WHERE reservation_id = @r AND kind = 'reverse'",
            ("r", reservation))).ShouldBe("reverse:120:answer was cut off");
        // Usage is what happened; the reversal is money given back, so the usage event stays as it was.
        (await app.Database.ScalarAsync<long>("SELECT amount_micro FROM usage_events WHERE reservation_id = @r", ("r", reservation))).ShouldBe(300);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Reverse_SameKeyAgain_ReturnsTheFirstReversal_AndADifferentAmountIs409()
    {
        var (slug, account, reservation) = await app.ChargedAsync(1000, 400, 300);
        var first = await app.SendAsync(new ReverseCharge.Command(slug, reservation, 100, "r", "refund-2"));

        var replay = await app.SendAsync(new ReverseCharge.Command(slug, reservation, 100, "r", "refund-2"));
        var conflict = await app.SendAsync(new ReverseCharge.Command(slug, reservation, 101, "r", "refund-2"));

        replay.Value.Replayed.ShouldBeTrue();
        replay.Value.ReversalId.ShouldBe(first.Value.ReversalId);
        conflict.Error.ShouldBeOfType<IdempotencyKeyReused>();
        (await app.AvailableAsync(account)).ShouldBe(1000 - 300 + 100);
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_reversals WHERE account_id = @a", account)).ShouldBe(1);
    }

    [Fact]
    public async Task Reverse_MoreThanIsLeftOfTheCharge_IsRefusedAndWritesNothing()
    {
        var (slug, account, reservation) = await app.ChargedAsync(1000, 400, 300);
        (await app.SendAsync(new ReverseCharge.Command(slug, reservation, 250, "r", "refund-3a"))).IsSuccess.ShouldBeTrue();

        var tooMuch = await app.SendAsync(new ReverseCharge.Command(slug, reservation, 51, "r", "refund-3b"));

        tooMuch.Error.ShouldBeOfType<ReversalExceedsCharge>().ReversibleMicro.ShouldBe(50);
        (await app.AvailableAsync(account)).ShouldBe(1000 - 300 + 250);
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_reversals WHERE account_id = @a", account)).ShouldBe(1);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Reverse_PendingOrReleasedReservation_Is409ReservationNotCharged()
    {
        var (slug, account) = await app.FundedCommunityAsync(1000);
        var pending = (await app.SendAsync(new ReserveCredits.Command(account, 100, "pending"))).Value;
        var released = (await app.SendAsync(new ReserveCredits.Command(account, 100, "released"))).Value;
        await app.SendAsync(new ReleaseReservation.Command(account, released.ReservationId, "never called"));

        var onPending = await app.SendAsync(new ReverseCharge.Command(slug, pending.ReservationId, 1, "r", "refund-4a"));
        var onReleased = await app.SendAsync(new ReverseCharge.Command(slug, released.ReservationId, 1, "r", "refund-4b"));

        onPending.Error.ShouldBeOfType<ReservationNotCharged>().Status.ShouldBe(ReservationStatus.Pending);
        onReleased.Error.ShouldBeOfType<ReservationNotCharged>().Status.ShouldBe(ReservationStatus.Released);
        (await app.AvailableAsync(account)).ShouldBe(900);
    }

    [Fact]
    public async Task Reverse_AnotherCommunitysReservation_Is404AndWritesNothing()
    {
        var (_, _, reservation) = await app.ChargedAsync(1000, 400, 300);
        var (otherSlug, otherAccount) = await app.FundedCommunityAsync(500);

        var result = await app.SendAsync(new ReverseCharge.Command(otherSlug, reservation, 10, "r", "refund-5"));

        result.Error.ShouldBeOfType<Features.Common.Errors.NotFound>();
        (await app.AvailableAsync(otherAccount)).ShouldBe(500);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_reversals WHERE reservation_id = @r", ("r", reservation))).ShouldBe(0);
    }

    [Fact]
    public async Task Reverse_ChargeAcrossTwoLots_GivesBackToTheLastChargedLotFirst()
    {
        var (slug, account) = await app.FundedCommunityAsync(100, DateTimeOffset.UtcNow.AddDays(1));
        var later = await app.GrantAsync(slug, 1000);
        var hold = (await app.SendAsync(new ReserveCredits.Command(account, 300, "two-lots"))).Value;
        await app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 250, new Usage(), "fin-two-lots"));

        (await app.SendAsync(new ReverseCharge.Command(slug, hold.ReservationId, 200, "r", "refund-6"))).IsSuccess.ShouldBeTrue();

        // Charged 100 from the expiring lot, then 150 from the later one; 150 comes back there first, then 50.
        (await app.Database.ScalarAsync<long>("SELECT consumed FROM credit_lots WHERE id = @l", ("l", later.LotId))).ShouldBe(0);
        (await app.Database.ScalarAsync<long>("SELECT consumed FROM credit_lots WHERE account_id = @a AND id <> @l", ("a", account), ("l", later.LotId))).ShouldBe(50);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Reverse_RacingReversalsOfOneCharge_NeverGiveBackMoreThanWasCharged()
    {
        var (slug, account, reservation) = await app.ChargedAsync(10_000, 1_000, 1_000);

        var results = await Task.WhenAll(Enumerable.Range(0, 30).Select(i =>
            Task.Run(() => app.SendAsync(new ReverseCharge.Command(slug, reservation, 100, "race", $"race-{i}")))));

        results.Count(r => r.IsSuccess).ShouldBe(10);
        results.Where(r => !r.IsSuccess).ShouldAllBe(r => r.Error is ReversalExceedsCharge);
        (await ConsumedAsync(account)).ShouldBe(0);
        (await app.AvailableAsync(account)).ShouldBe(10_000);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Reverse_SameKeyStorm_GivesBackOnce()
    {
        var (slug, account, reservation) = await app.ChargedAsync(10_000, 1_000, 1_000);

        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ =>
            Task.Run(() => app.SendAsync(new ReverseCharge.Command(slug, reservation, 300, "storm", "storm-key")))));

        results.ShouldAllBe(r => r.IsSuccess);
        results.Select(r => r.Value.ReversalId).Distinct().Count().ShouldBe(1);
        (await ConsumedAsync(account)).ShouldBe(700);
    }

    [Fact]
    public async Task Http_Reversal_Is201ThenReplay200_AndBadInputIs400()
    {
        var (slug, account, reservation) = await app.ChargedAsync(1000, 400, 300);
        using var client = app.CreateAdminClient();

        var created = await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/reversals",
            new { reservation_id = reservation, amount_micro = 300, reason = "refund", idempotency_key = "http-1" });
        var replay = await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/reversals",
            new { reservation_id = reservation, amount_micro = 300, reason = "refund", idempotency_key = "http-1" });
        var exceeds = await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/reversals",
            new { reservation_id = reservation, amount_micro = 1, reason = "refund", idempotency_key = "http-2" });
        var invalid = await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/reversals",
            new { reservation_id = reservation, amount_micro = 0, reason = "refund", idempotency_key = "http-3" });
        using var anonymous = app.CreateClient();
        var unauthorized = await anonymous.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/reversals",
            new { reservation_id = reservation, amount_micro = 1, reason = "refund", idempotency_key = "http-4" });

        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("amount_micro").GetInt64().ShouldBe(300);
        body.GetProperty("reversed_total_micro").GetInt64().ShouldBe(300);
        replay.StatusCode.ShouldBe(HttpStatusCode.OK);
        exceeds.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await exceeds.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString().ShouldEndWith("/reversal-exceeds-charge");
        invalid.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await invalid.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("amount_micro", out _).ShouldBeTrue();
        unauthorized.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var balance = await client.GetFromJsonAsync<JsonElement>($"/api/v1/communities/{slug}/balance");
        balance.GetProperty("available_micro").GetInt64().ShouldBe(1000);
        balance.GetProperty("consumed_micro").GetInt64().ShouldBe(0);
        (await app.AvailableAsync(account)).ShouldBe(1000);
    }
}

/// <summary>Reversals written behind the ledger's back; a fixture of its own, because it leaves the ledger broken on purpose.</summary>
public sealed class ReversalTamperingTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Audit_ReversalWithoutItsEntries_IsReportedAsC3AndC4()
    {
        var (slug, account, reservation) = await app.ChargedAsync(1000, 400, 300);
        var community = await app.Database.ScalarAsync<Guid>("SELECT id FROM communities WHERE slug = @s", ("s", slug));

        // Written behind the ledger's back: a reversal row with no entry and no lot change.
        await app.Database.ExecuteAsync($"""
            INSERT INTO credit_reversals (id, account_id, community_id, reservation_id, idempotency_key, amount, reason, created_at)
            VALUES (gen_random_uuid(), '{account}', '{community}', '{reservation}', 'forged-' || gen_random_uuid(), 50, 'forged', now())
            """);
        var audit = await app.SendAsync(new AuditConservation.Command(slug));

        audit.Value.Status.ShouldBe("violated");
        audit.Value.Invariants.Where(i => !i.Ok).Select(i => i.Id).ShouldBe(["C3", "C4"], ignoreOrder: true);
    }

    [Fact]
    public async Task Database_EvenOwnerChangesAReversal_RefusedByTrigger()
    {
        var (slug, _, reservation) = await app.ChargedAsync(1000, 400, 300);
        (await app.SendAsync(new ReverseCharge.Command(slug, reservation, 10, "r", "kept"))).IsSuccess.ShouldBeTrue();

        var refused = await Should.ThrowAsync<Npgsql.PostgresException>(() => app.Database.ExecuteAsync("UPDATE credit_reversals SET amount = amount + 1"));

        refused.MessageText.ShouldContain("append-only");
    }
}
