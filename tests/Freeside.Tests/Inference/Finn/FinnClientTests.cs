using System.Text;
using Freeside.Features.Common.Errors;
using Freeside.Features.Identity.S2S;
using Freeside.Features.Inference;
using Freeside.Features.Inference.Finn;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Inference.Finn;

public sealed class FinnClientTests(FreesideWithFinn app) : IClassFixture<FreesideWithFinn>
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("{\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}],\"max_tokens\":64}");

    private FinnClient Client => app.Services.GetRequiredService<FinnClient>();

    private static FinnCall Call(Guid reservation, string tier = "pro", string? pool = null, string token = "1") => new(
        new S2SClaims("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", Guid.NewGuid(), tier, ["cheap", "fast-code", "reviewer"], reservation,
            S2SJwtSigner.NftId(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", token), pool),
        Body);

    private static async Task<List<FinnEvent>> DrainAsync(FinnStream stream)
    {
        var events = new List<FinnEvent>();
        await foreach (var e in stream.ReadEventsAsync())
        {
            events.Add(e);
        }

        return events;
    }

    private async Task<Result<FinnStream>> OpenAsync(FinnCall call, string? fault = null)
    {
        using var _ = fault is null ? null : FinnFaultHandler.Inject(fault);
        return await Client.StreamAsync(call, CancellationToken.None);
    }

    [Fact]
    public async Task Stream_Normal_YieldsStartChunksUsageEndAndHeaders()
    {
        var opened = await OpenAsync(Call(Guid.NewGuid(), pool: "reviewer"));

        await using var stream = opened.Value;
        stream.PoolUsed.ShouldBe("reviewer");
        stream.PersonalityId.ShouldNotBeNullOrEmpty();
        stream.Start.PersonalityId.ShouldBe(stream.PersonalityId);
        var events = await DrainAsync(stream);
        events.OfType<FinnChunk>().Count().ShouldBe(24);
        events[^2].ShouldBeOfType<FinnUsage>().CompletionTokens.ShouldBe(24);
        var end = events[^1].ShouldBeOfType<FinnEnded>();
        // prompt: 58 body characters of content "hello there" → the stand-in counts 3 tokens; 24 completion tokens of gpt-4o.
        end.CostMicro.ShouldBe((3 * 2_500_000 + 24 * 10_000_000) / 1_000_000);
        stream.Finished.ShouldBeTrue();
    }

    [Fact]
    public async Task Stream_503ThenSuccess_RetriesWithNewJtiAndSameReservation()
    {
        var reservation = Guid.NewGuid();

        var opened = await OpenAsync(Call(reservation), "http-then-ok:503:2");

        await using var stream = opened.Value;
        (await DrainAsync(stream))[^1].ShouldBeOfType<FinnEnded>();
        var attempts = (await app.Stub.RequestsAsync())
            .Where(r => r.GetProperty("claims").GetProperty("budget_reservation_id").GetString() == reservation.ToString()).ToList();
        attempts.Count.ShouldBe(3);
        attempts.Select(a => a.GetProperty("claims").GetProperty("jti").GetString()).Distinct().Count().ShouldBe(3);
    }

    [Fact]
    public async Task Stream_502OnEveryAttempt_GivesUpAfterTwoRetries()
    {
        var reservation = Guid.NewGuid();

        var opened = await OpenAsync(Call(reservation), "http-then-ok:502:5");

        opened.Error.ShouldBeOfType<FinnUnavailable>();
        (await app.Stub.RequestsAsync()).Count(r => r.GetProperty("claims").GetProperty("budget_reservation_id").GetString() == reservation.ToString())
            .ShouldBe(1 + FinnClient.MaxRetries);
    }

    [Fact]
    public async Task Stream_Refusal_IsNotRetriedAndCarriesFinnsCode()
    {
        var reservation = Guid.NewGuid();

        var opened = await OpenAsync(Call(reservation, tier: "free", pool: "architect"));

        var refused = opened.Error.ShouldBeOfType<FinnRefused>();
        refused.Status.ShouldBe(403);
        refused.Code.ShouldBe("POOL_ACCESS_DENIED");
        (await app.Stub.RequestsAsync()).Count(r => r.GetProperty("claims").GetProperty("budget_reservation_id").GetString() == reservation.ToString())
            .ShouldBe(1);
    }

    [Fact]
    public async Task Stream_SlowFirstByte_TimesOut()
    {
        var opened = await OpenAsync(Call(Guid.NewGuid()), "delay-first-byte:10000");

        opened.Error.ShouldBeOfType<FinnTimedOut>().Kind.ShouldBe(ErrorKind.Timeout);
    }

    [Theory]
    [InlineData("version:8.0.0")]
    [InlineData("version:6.1.0")]
    public async Task Stream_OtherContractMajor_IsRefused(string fault)
    {
        var opened = await OpenAsync(Call(Guid.NewGuid()), fault);

        opened.Error.ShouldBeOfType<FinnContractMismatch>().Kind.ShouldBe(ErrorKind.Unavailable);
    }

    [Fact]
    public async Task Stream_SameMajorNewerMinor_IsAccepted()
    {
        var opened = await OpenAsync(Call(Guid.NewGuid()), "version:7.4.0");

        await using var stream = opened.Value;
        (await DrainAsync(stream))[^1].ShouldBeOfType<FinnEnded>();
    }

    [Fact]
    public async Task Stream_UpstreamAbort_ThrowsAfterDeliveredChunks()
    {
        var opened = await OpenAsync(Call(Guid.NewGuid()), "abort-after:3");
        if (!opened.IsSuccess)
        {
            // The reset can overtake even stream_start: then there is no stream at all.
            opened.Error.ShouldBeOfType<FinnUnavailable>();
            return;
        }

        await using var stream = opened.Value;
        var chunks = 0;

        await Should.ThrowAsync<FinnProtocolException>(async () =>
        {
            await foreach (var e in stream.ReadEventsAsync())
            {
                chunks += e is FinnChunk ? 1 : 0;
            }
        });
        // A TCP reset may drop bytes already sent, so at most the three chunks finn wrote arrive.
        chunks.ShouldBeLessThanOrEqualTo(3);
        stream.Finished.ShouldBeFalse();
    }

    [Fact]
    public async Task Stream_MissingUsage_ThrowsAtTheEnd()
    {
        var opened = await OpenAsync(Call(Guid.NewGuid()), "no-usage");
        await using var stream = opened.Value;
        var chunks = 0;

        var thrown = await Should.ThrowAsync<FinnProtocolException>(async () =>
        {
            await foreach (var e in stream.ReadEventsAsync())
            {
                chunks += e is FinnChunk ? 1 : 0;
            }
        });
        chunks.ShouldBe(24);
        thrown.Message.ShouldContain("before stream_end");
    }

    [Fact]
    public async Task Stream_ErrorEvent_EndsWithFailed()
    {
        var opened = await OpenAsync(Call(Guid.NewGuid()), "error-event-after:2");
        await using var stream = opened.Value;

        var events = await DrainAsync(stream);

        events.OfType<FinnChunk>().Count().ShouldBe(2);
        events[^1].ShouldBeOfType<FinnFailed>().Code.ShouldBe("PROVIDER_UNAVAILABLE");
    }

    [Fact]
    public async Task Stream_TwoNftsOfOneTier_LandOnDifferentPoolsAndPersonalities()
    {
        var seen = new HashSet<(string Pool, string Personality)>();
        for (var token = 1; token <= 12; token++)
        {
            await using var stream = (await OpenAsync(Call(Guid.NewGuid(), tier: "enterprise", token: token.ToString(System.Globalization.CultureInfo.InvariantCulture)))).Value;
            seen.Add((stream.PoolUsed, stream.PersonalityId));
        }

        seen.Select(s => s.Personality).Distinct().Count().ShouldBe(12);
        seen.Select(s => s.Pool).Distinct().Count().ShouldBeGreaterThan(1);
    }

    [Fact]
    public async Task GetPersonality_KnownNft_ReturnsTheShownFields()
    {
        var call = Call(Guid.NewGuid());

        var personality = (await Client.GetPersonalityAsync(call.Claims, CancellationToken.None)).Value;

        personality.PersonalityId.ShouldNotBeNullOrEmpty();
        personality.DisplayName.ShouldNotBeNullOrEmpty();
        new[] { "fire", "water", "earth", "air" }.ShouldContain(personality.Element);
    }

    private static FinnCall EnsembleCall(string tier, S2SEnsemble ensemble) => new(
        new S2SClaims("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", Guid.NewGuid(), tier, ["cheap"], Guid.NewGuid(),
            S2SJwtSigner.NftId(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", "1"), tier == "free" ? "cheap" : "reviewer", ensemble),
        Body);

    [Theory]
    [InlineData("free", "best_of_n", 2, 1, 403)]
    [InlineData("pro", "best_of_n", 4, 1, 403)]
    [InlineData("enterprise", "consensus", 6, 3, 403)]
    [InlineData("pro", "majority", 2, 1, 400)]
    [InlineData("pro", "best_of_n", 1, 1, 400)]
    [InlineData("pro", "consensus", 3, 4, 400)]
    public async Task Stream_EnsembleClaimsOutsideTheContract_AreRefusedByTheStandIn(string tier, string strategy, int n, int quorum, int status)
    {
        var opened = await OpenAsync(EnsembleCall(tier, new S2SEnsemble(strategy, n, quorum)));

        opened.Error.ShouldBeOfType<FinnRefused>().Status.ShouldBe(status);
    }

    [Theory]
    [InlineData("best_of_n", null, 3)]
    [InlineData("best_of_n", "ensemble-fail:2", 2)]
    [InlineData("consensus", "ensemble-fail:0", 2)]
    [InlineData("fallback", "ensemble-fail:0,1", 1)]
    public async Task Stream_Ensemble_ReportsUsageAndCostSummedOverTheCallsThatAnswered(string strategy, string? fault, int answered)
    {
        var opened = await OpenAsync(EnsembleCall("pro", new S2SEnsemble(strategy, 3, 2)), fault);

        await using var stream = opened.Value;
        var events = await DrainAsync(stream);
        events.OfType<FinnChunk>().Count().ShouldBe(24);
        var usage = events[^2].ShouldBeOfType<FinnUsage>();
        usage.CompletionTokens.ShouldBe(24 * answered);
        usage.PromptTokens.ShouldBe(3 * answered);
        // reviewer (gpt-4o): 3 prompt tokens at 2.5 and 24 completion tokens at 10 USD per million, 247 µUSD a call.
        events[^1].ShouldBeOfType<FinnEnded>().CostMicro.ShouldBe(answered * ((3 * 2_500_000 + 24 * 10_000_000) / 1_000_000));
    }

    [Fact]
    public async Task Stream_ConsensusBelowQuorum_EndsWithAnErrorBeforeAnyChunk()
    {
        var opened = await OpenAsync(EnsembleCall("pro", new S2SEnsemble("consensus", 3, 3)), "ensemble-fail:1");

        await using var stream = opened.Value;
        var events = await DrainAsync(stream);
        events.ShouldHaveSingleItem().ShouldBeOfType<FinnFailed>();
    }
}

/// <summary>finn is down: nothing listens on LOA_FINN_URL, and the breaker opens after five failed attempts.</summary>
public sealed class FinnDown : FreesideWithFinn
{
    protected override bool StartStub => false;

    protected override IDictionary<string, string?> Settings(Freeside.Tests.Infrastructure.TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["FINN_BREAKER_MINIMUM_CALLS"] = "5";
        settings["FINN_BREAKER_BREAK_SECONDS"] = "600";
        return settings;
    }
}

public sealed class FinnClientBreakerTests(FinnDown app) : IClassFixture<FinnDown>
{
    [Fact]
    public async Task Stream_FinnDown_BreakerOpensThenAnswersWithoutAConnection()
    {
        var client = app.Services.GetRequiredService<FinnClient>();
        var call = new FinnCall(new S2SClaims("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", Guid.NewGuid(), "free", ["cheap"], Guid.NewGuid()),
            Encoding.UTF8.GetBytes("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"));

        // Each call tries 1 + 2 times; five refused connections open the breaker during the second call.
        (await client.StreamAsync(call, CancellationToken.None)).Error.ShouldBeOfType<FinnUnavailable>();
        (await client.StreamAsync(call, CancellationToken.None)).Error.ShouldBeOfType<FinnUnavailable>();
        client.BreakerState.ShouldBe(Polly.CircuitBreaker.CircuitState.Open);
        var sent = app.Wire.Sent;
        sent.ShouldBe(5);

        for (var i = 0; i < 20; i++)
        {
            var result = await client.StreamAsync(call, CancellationToken.None);
            result.Error.ShouldBeOfType<FinnUnavailable>().Detail.ShouldContain("circuit breaker is open");
        }

        app.Wire.Sent.ShouldBe(sent);
        app.ScrapeMetrics().ShouldContain("finn_breaker_state 1");
    }
}
