using System.Net;
using System.Text.Json;
using Freeside.Features.Communities;
using Freeside.Features.Inference;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Inference;

public sealed class EnsemblePlanTests
{
    [Fact]
    public void Plan_Disabled_IsEnsembleNotAvailable()
    {
        var planned = Ensembles.Plan(new Ensembles.Request("best_of_n", 2), AccessLevel.Enterprise, enabled: false);

        planned.Error.ShouldBeOfType<EnsembleNotAvailable>().Detail.ShouldContain("ENSEMBLE_ENABLED");
    }

    [Fact]
    public void Plan_FreeTier_IsEnsembleNotAvailable()
    {
        var planned = Ensembles.Plan(new Ensembles.Request("best_of_n", 2), AccessLevel.Free, enabled: true);

        planned.Error.ShouldBeOfType<EnsembleNotAvailable>().Type.ShouldBe("ensemble-not-available");
    }

    [Theory]
    [InlineData(AccessLevel.Pro, 2, 2)]
    [InlineData(AccessLevel.Pro, 5, 3)]
    [InlineData(AccessLevel.Pro, null, 3)]
    [InlineData(AccessLevel.Enterprise, 5, 5)]
    [InlineData(AccessLevel.Enterprise, 9, 5)]
    [InlineData(AccessLevel.Enterprise, null, 5)]
    public void Plan_N_IsClampedToTheTiersMaximum(AccessLevel level, int? asked, int expected)
    {
        foreach (var strategy in Ensembles.Strategies)
        {
            Ensembles.Plan(new Ensembles.Request(strategy, asked), level, enabled: true).Value.N.ShouldBe(expected);
        }
    }

    [Theory]
    [InlineData("consensus", 5, null, 3)]
    [InlineData("consensus", 5, 4, 4)]
    [InlineData("consensus", 3, 9, 3)]
    [InlineData("best_of_n", 5, 4, 1)]
    [InlineData("fallback", 5, 4, 1)]
    public void Plan_Quorum_IsAMajorityByDefaultAndNeverAboveN(string strategy, int n, int? quorum, int expected)
    {
        var planned = Ensembles.Plan(new Ensembles.Request(strategy, n, quorum), AccessLevel.Enterprise, enabled: true).Value;

        planned.Quorum.ShouldBe(expected);
        planned.Quorum.ShouldBeLessThanOrEqualTo(planned.N);
    }

    [Fact]
    public void ObservedCalls_ParallelStrategiesCountN_FallbackCountsOne()
    {
        Ensembles.ObservedCalls(null).ShouldBe(1);
        Ensembles.ObservedCalls(new("best_of_n", 3, 1)).ShouldBe(3);
        Ensembles.ObservedCalls(new("consensus", 3, 2)).ShouldBe(3);
        Ensembles.ObservedCalls(new("fallback", 3, 1)).ShouldBe(1);
    }
}

/// <summary>The chat app with ENSEMBLE_ENABLED=true.</summary>
public sealed class EnsembleApp : ChatApp
{
    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["ENSEMBLE_ENABLED"] = "true";
        return settings;
    }
}

public sealed class EnsembleTests(EnsembleApp app) : IClassFixture<EnsembleApp>
{
    private const string Pro = "ens-pro";
    private const string Enterprise = "ens-ent";
    private const string Free = "ens-free";

    private sealed record Settled(List<SseEvent> Events, long Held, long? Charged, string Status, string Reservation, long Drop);

    /// <summary>One chat; what it held, charged and took from the balance, read from the ledger itself.</summary>
    private async Task<Settled> ChatAsync(string slug, object body)
    {
        var before = await ChatHttp.AvailableAsync(app, slug);
        var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, slug, "1", body);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var events = ChatHttp.Events(await response.Content.ReadAsStringAsync());
        var key = "chat:" + events[0].Data.GetProperty("message_id").GetGuid().ToString("N");
        var held = await app.Database.ScalarAsync<long>("SELECT held FROM credit_reservations WHERE idempotency_key = @k", ("k", key));
        var charged = await app.Database.ScalarAsync<long?>("SELECT charged FROM credit_reservations WHERE idempotency_key = @k", ("k", key));
        var status = await app.Database.ScalarAsync<string>("SELECT status FROM credit_reservations WHERE idempotency_key = @k", ("k", key));
        var reservation = await app.Database.ScalarAsync<Guid>("SELECT id FROM credit_reservations WHERE idempotency_key = @k", ("k", key));
        var after = await ChatHttp.AvailableAsync(app, slug);
        return new Settled(events, held, charged, status!, reservation.ToString(), before - after);
    }

    private async Task<JsonElement> ClaimsSentAsync(string reservation) =>
        (await app.Stub.RequestsAsync()).Last(r => r.GetProperty("claims").GetProperty("budget_reservation_id").GetString() == reservation).GetProperty("claims");

    private static long WorstCase(AccessLevel level, string message) =>
        PoolCatalog.WorstCaseMicro(PoolCatalog.AllowedFor(level), PoolCatalog.EstimateTokens(message.Length), Chat.MaxTokens);

    private async Task AfterwardsAsync(string slug)
    {
        (await ChatHttp.PendingHoldsAsync(app)).ShouldBe(0);
        (await app.Database.ScalarAsync<long>("SELECT coalesce(sum(amount_micro), 0) FROM usage_events")).ShouldBe(
            await app.Database.ScalarAsync<long>("SELECT coalesce(sum(charged), 0) FROM credit_reservations WHERE status = 'finalized'"));
        await ChatHttp.ConservationHoldsAsync(app, slug);
    }

    [Theory]
    [InlineData("best_of_n")]
    [InlineData("consensus")]
    [InlineData("fallback")]
    public async Task Chat_ProEnsembleAskingFive_RunsThreeHoldsThreeWorstCasesChargesWhatFinnReports(string strategy)
    {
        await ChatHttp.CommunityAsync(app, Pro, app.Chain.Collection);
        var message = "ensemble question for " + strategy;
        var single = await ChatAsync(Pro, new { message });

        var ensemble = await ChatAsync(Pro, new { message, ensemble = new { strategy, n = 5 } });

        var claims = await ClaimsSentAsync(ensemble.Reservation);
        claims.GetProperty("ensemble_strategy").ToString().ShouldBe(strategy);
        claims.GetProperty("ensemble_n").ToString().ShouldBe("3");
        claims.GetProperty("ensemble_quorum").ToString().ShouldBe(strategy == "consensus" ? "2" : "1");
        ensemble.Held.ShouldBe(3 * WorstCase(AccessLevel.Pro, message));
        single.Held.ShouldBe(WorstCase(AccessLevel.Pro, message));
        ensemble.Events[^1].Name.ShouldBe("end");
        // fallback streams the first call that answers; the others run all three.
        var calls = strategy == "fallback" ? 1 : 3;
        ensemble.Charged.ShouldBe(calls * single.Charged);
        ensemble.Events[^1].Data.GetProperty("cost_micro").GetInt64().ShouldBe(calls * single.Charged!.Value);
        ensemble.Drop.ShouldBe(ensemble.Charged!.Value);
        ensemble.Status.ShouldBe("finalized");
        await AfterwardsAsync(Pro);
    }

    [Fact]
    public async Task Chat_EnterpriseEnsembleAskingNine_RunsFiveAndHoldsFiveWorstCases()
    {
        await ChatHttp.CommunityAsync(app, Enterprise, app.Chain.Collection, level: "enterprise");
        const string message = "enterprise ensemble";

        var ensemble = await ChatAsync(Enterprise, new { message, ensemble = new { strategy = "best_of_n", n = 9 } });

        (await ClaimsSentAsync(ensemble.Reservation)).GetProperty("ensemble_n").ToString().ShouldBe("5");
        ensemble.Held.ShouldBe(5 * WorstCase(AccessLevel.Enterprise, message));
        ensemble.Charged!.Value.ShouldBeGreaterThan(0);
        ensemble.Charged.Value.ShouldBeLessThanOrEqualTo(ensemble.Held);
        ensemble.Drop.ShouldBe(ensemble.Charged.Value);
        app.ScrapeMetrics().ShouldContain("inference_ensembles_total{n=\"5\",outcome=\"completed\",strategy=\"best_of_n\"}");
        await AfterwardsAsync(Enterprise);
    }

    [Theory]
    [InlineData("best_of_n", "ensemble-fail:1", 2)]
    [InlineData("consensus", "ensemble-fail:2", 2)]
    [InlineData("fallback", "ensemble-fail:0", 1)]
    [InlineData("fallback", "ensemble-fail:0,1", 1)]
    public async Task Chat_OneOfNFails_ChargesOnlyTheCallsThatAnsweredAndReleasesTheRest(string strategy, string fault, int answered)
    {
        await ChatHttp.CommunityAsync(app, Pro, app.Chain.Collection);
        var message = $"partly failing [fault:{fault}] {strategy}";
        // Without an ensemble the stand-in ignores the fault: the cost of one call of this very prompt.
        var single = await ChatAsync(Pro, new { message });

        var ensemble = await ChatAsync(Pro, new { message, ensemble = new { strategy, n = 3 } });

        ensemble.Events[^1].Name.ShouldBe("end");
        ensemble.Held.ShouldBe(3 * WorstCase(AccessLevel.Pro, message));
        ensemble.Charged.ShouldBe(answered * single.Charged);
        ensemble.Drop.ShouldBe(ensemble.Charged!.Value);
        await AfterwardsAsync(Pro);
    }

    [Theory]
    [InlineData("consensus", "ensemble-fail:0,1")]
    [InlineData("best_of_n", "ensemble-fail:0,1,2")]
    [InlineData("fallback", "ensemble-fail:0,1,2")]
    public async Task Chat_EnsembleWithoutAnAnswer_EndsWithErrorChargesNothingReleasesEverything(string strategy, string fault)
    {
        await ChatHttp.CommunityAsync(app, Pro, app.Chain.Collection);

        var ensemble = await ChatAsync(Pro, new { message = $"no answer [fault:{fault}]", ensemble = new { strategy, n = 3 } });

        ensemble.Events[^1].Name.ShouldBe("error");
        ensemble.Events.ShouldNotContain(e => e.Name == "token");
        ensemble.Charged.ShouldBe(0);
        ensemble.Drop.ShouldBe(0);
        await AfterwardsAsync(Pro);
    }

    // error-event-after rather than abort-after: a TCP reset can overtake what was written before it, an error event cannot.
    [Fact]
    public async Task Chat_EnsembleStreamBrokenOff_ChargesObservedChunksOfEveryCallWithinTheHold()
    {
        await ChatHttp.CommunityAsync(app, Pro, app.Chain.Collection);
        const string message = "broken-off ensemble [fault:error-event-after:6]";
        var single = await ChatAsync(Pro, new { message });

        var ensemble = await ChatAsync(Pro, new { message, ensemble = new { strategy = "best_of_n", n = 3 } });

        ensemble.Events[^1].Name.ShouldBe("error");
        single.Charged!.Value.ShouldBeGreaterThan(0);
        ensemble.Charged!.Value.ShouldBeGreaterThanOrEqualTo(3 * single.Charged.Value);
        ensemble.Charged.Value.ShouldBeLessThanOrEqualTo(ensemble.Held);
        ensemble.Drop.ShouldBe(ensemble.Charged.Value);
        (await app.Database.ScalarAsync<string>(
            "SELECT billing_method FROM usage_events WHERE reservation_id = @r", ("r", Guid.Parse(ensemble.Reservation)))).ShouldBe("observed_chunks");
        await AfterwardsAsync(Pro);
    }

    [Fact]
    public async Task Chat_FreeTierEnsemble_Is400EnsembleNotAvailableAndReservesNothing()
    {
        await ChatHttp.CommunityAsync(app, Free, app.Chain.Collection, level: "free");
        var reservations = await ChatHttp.ReservationsAsync(app);
        var sent = app.Wire.Sent;

        var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, Free, "1", new { message = "hi", ensemble = new { strategy = "best_of_n", n = 2 } });

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await response.Content.ReadAsStringAsync()).ShouldContain("ensemble-not-available");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
        app.Wire.Sent.ShouldBe(sent);
    }

    [Theory]
    [InlineData("majority", 3, null)]
    [InlineData("best_of_n", 1, null)]
    [InlineData("consensus", 3, 0)]
    public async Task Chat_MalformedEnsemble_Is400NamingTheFieldAndReservesNothing(string strategy, int n, int? quorum)
    {
        await ChatHttp.CommunityAsync(app, Pro, app.Chain.Collection);
        var reservations = await ChatHttp.ReservationsAsync(app);

        var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, Pro, "1", new { message = "hi", ensemble = new { strategy, n, quorum } });

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain("ensemble.");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
    }
}
