using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace Freeside.FinnStub.Tests;

public sealed class FinnStubTests(StubFixture stub) : IClassFixture<StubFixture>
{
    [Fact]
    public async Task Health_OnceJwksLoads_IsOk()
    {
        var response = await stub.Client.GetAsync("/v1/health");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldContain("\"contract_version\":\"7.0.0\"");
    }

    [Fact]
    public async Task Invoke_ValidToken_AnswersWithUsageCostAndHeaders()
    {
        var body = StubFixture.Body(new string('x', 400));
        var response = await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, stub.Sign(stub.Claims(body, tier: "pro", poolId: "reviewer"))));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Headers.GetValues("X-Pool-Used").Single().ShouldBe("reviewer");
        response.Headers.GetValues("X-Model-Used").Single().ShouldBe("gpt-4o");
        response.Headers.GetValues("X-Contract-Version").Single().ShouldBe("7.0.0");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var usage = json.RootElement.GetProperty("usage");
        usage.GetProperty("prompt_tokens").GetInt64().ShouldBe(100);
        usage.GetProperty("completion_tokens").GetInt64().ShouldBe(24);
        // floor((100 × 2,500,000 + 24 × 10,000,000) / 1,000,000) = 490
        json.RootElement.GetProperty("cost_micro").GetString().ShouldBe("490");
    }

    [Fact]
    public async Task Stream_ValidToken_SendsStartChunksUsageEndInOrder()
    {
        var body = StubFixture.Body(maxTokens: 5);
        var response = await stub.Client.SendAsync(stub.Request("/v1/agents/stream", body, stub.Sign(stub.Claims(body, tier: "free"))));

        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/event-stream");
        var events = Events(await response.Content.ReadAsStringAsync());
        events.Select(e => e.Name).ShouldBe(["stream_start", "chunk", "chunk", "chunk", "chunk", "chunk", "usage", "stream_end"]);
        events.Select(e => e.Id).ShouldBe(Enumerable.Range(0, 8));
        events[^1].Data.ShouldContain("\"billing_method\":\"provider_reported\"");
        events[0].Data.ShouldContain("\"pool_id\":\"cheap\"");
    }

    [Theory]
    [InlineData("no-usage", "chunk")]
    [InlineData("error-event-after:2", "error")]
    public async Task Stream_Fault_EndsWithoutUsage(string fault, string lastEvent)
    {
        var body = StubFixture.Body();
        var response = await stub.Client.SendAsync(stub.Request("/v1/agents/stream", body, stub.Sign(stub.Claims(body)), fault));

        var events = Events(await response.Content.ReadAsStringAsync());
        events[^1].Name.ShouldBe(lastEvent);
        events.ShouldNotContain(e => e.Name == "usage");
    }

    [Fact]
    public async Task Invoke_HttpFault_AnswersThatStatus()
    {
        var body = StubFixture.Body();
        var response = await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, stub.Sign(stub.Claims(body)), "http:503"));

        (await StubFixture.ErrorOf(response)).ShouldBe((HttpStatusCode.ServiceUnavailable, "PROVIDER_UNAVAILABLE"));
    }

    [Fact]
    public async Task Invoke_NoToken_IsJwtRequired()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/agents/invoke") { Content = new ByteArrayContent(StubFixture.Body()) };

        (await StubFixture.ErrorOf(await stub.Client.SendAsync(request))).ShouldBe((HttpStatusCode.Unauthorized, "JWT_REQUIRED"));
    }

    [Fact]
    public async Task Invoke_ReplayedJti_IsRefused()
    {
        var body = StubFixture.Body();
        var token = stub.Sign(stub.Claims(body));
        (await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, token))).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await StubFixture.ErrorOf(await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, token))))
            .ShouldBe((HttpStatusCode.Unauthorized, "JTI_REPLAY_DETECTED"));
    }

    [Fact]
    public async Task Invoke_BodyDiffersFromReqHash_IsRefused()
    {
        var token = stub.Sign(stub.Claims(StubFixture.Body("signed")));

        (await StubFixture.ErrorOf(await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", StubFixture.Body("tampered"), token))))
            .ShouldBe((HttpStatusCode.BadRequest, "REQ_HASH_MISMATCH"));
    }

    public static TheoryData<string, string> BadClaims => new()
    {
        { "aud", "AUDIENCE_MISMATCH" },
        { "iss", "ISSUER_NOT_ALLOWED" },
        { "exp", "JWT_EXPIRED" },
    };

    [Theory]
    [MemberData(nameof(BadClaims))]
    public async Task Invoke_BadStandardClaim_IsRefusedWithItsCode(string claim, string code)
    {
        var body = StubFixture.Body();
        var claims = stub.Claims(body);
        var past = DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeSeconds();
        switch (claim)
        {
            case "aud": claims["aud"] = "someone-else"; break;
            case "iss": claims["iss"] = "mallory"; break;
            default: claims["iat"] = past - 60; claims["exp"] = past; break;
        }

        (await StubFixture.ErrorOf(await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, stub.Sign(claims)))))
            .ShouldBe((HttpStatusCode.Unauthorized, code));
    }

    [Fact]
    public async Task Invoke_Hs256WithPublicKeyAsSecret_IsRefused()
    {
        var body = StubFixture.Body();
        var secret = new SymmetricSecurityKey(SHA256.HashData(stub.Key.ExportSubjectPublicKeyInfo())) { KeyId = stub.Kid };

        var token = stub.Sign(stub.Claims(body), new SigningCredentials(secret, SecurityAlgorithms.HmacSha256));

        (await StubFixture.ErrorOf(await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, token)))).ShouldBe((HttpStatusCode.Unauthorized, "JWT_INVALID"));
    }

    [Fact]
    public async Task Invoke_AlgNone_IsRefused()
    {
        var body = StubFixture.Body();
        static string B64(string s) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(s));
        var token = B64("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"" + stub.Kid + "\"}") + "." + B64(JsonSerializer.Serialize(stub.Claims(body))) + ".";

        (await StubFixture.ErrorOf(await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, token)))).ShouldBe((HttpStatusCode.Unauthorized, "JWT_INVALID"));
    }

    [Fact]
    public async Task Invoke_SignedByAnotherKeyWithKnownKid_IsRefused()
    {
        var body = StubFixture.Body();
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var token = stub.Sign(stub.Claims(body), new SigningCredentials(new ECDsaSecurityKey(other) { KeyId = stub.Kid }, SecurityAlgorithms.EcdsaSha256),
            new Dictionary<string, object> { ["jwk"] = new Dictionary<string, string> { ["kty"] = "EC" } });

        (await StubFixture.ErrorOf(await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, token)))).ShouldBe((HttpStatusCode.Unauthorized, "JWT_INVALID"));
    }

    [Theory]
    [InlineData("free", "reviewer", "POOL_ACCESS_DENIED")]
    [InlineData("pro", "architect", "POOL_ACCESS_DENIED")]
    [InlineData("enterprise", "gpt-9", "UNKNOWN_POOL")]
    public async Task Invoke_PoolOutsideTier_IsForbidden(string tier, string pool, string code)
    {
        var body = StubFixture.Body();

        (await StubFixture.ErrorOf(await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, stub.Sign(stub.Claims(body, tier, pool))))))
            .ShouldBe((HttpStatusCode.Forbidden, code));
    }

    [Fact]
    public async Task Invoke_WithoutPool_PicksByPersonalitySoNftsDiffer()
    {
        var pools = new HashSet<string>();
        for (var token = 1; token <= 12; token++)
        {
            var body = StubFixture.Body();
            var claims = stub.Claims(body, tier: "enterprise", nftId: $"eip155:1/0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d/{token}");
            var response = await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, stub.Sign(claims)));
            pools.Add(response.Headers.GetValues("X-Pool-Used").Single());
        }

        pools.Count.ShouldBeGreaterThan(1);
        // Highest affinity per archetype: architect (freetekno, milady, acidhouse), fast-code (chicago_detroit).
        pools.ShouldBeSubsetOf(["architect", "fast-code"]);
    }

    [Fact]
    public async Task Personality_NeverNamesTheArchetype()
    {
        var token = stub.Sign(stub.Claims([]));
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/agents/personality?nft_id=eip155:1/0xabc/7");
        request.Headers.Authorization = new("Bearer", token);

        var text = await (await stub.Client.SendAsync(request)).Content.ReadAsStringAsync();

        text.ShouldContain("personality_id");
        foreach (var term in new[] { "freetekno", "milady", "chicago", "acidhouse", "archetype" })
        {
            text.ShouldNotContain(term, Case.Insensitive);
        }
    }

    [Fact]
    public async Task Stream_HttpThenOk_FailsTheFirstAttemptsOfOneReservationOnly()
    {
        var body = StubFixture.Body();
        var claims = stub.Claims(body);
        var statuses = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            claims["jti"] = Guid.NewGuid().ToString();
            var response = await stub.Client.SendAsync(stub.Request("/v1/agents/stream", body, stub.Sign(claims), "http-then-ok:503:2"));
            statuses.Add(response.StatusCode);
            await response.Content.ReadAsStringAsync();
        }

        statuses.ShouldBe([HttpStatusCode.ServiceUnavailable, HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK]);
    }

    [Fact]
    public async Task Stream_VersionFault_AnswersAsAnotherContractVersion()
    {
        var body = StubFixture.Body(maxTokens: 1);
        var response = await stub.Client.SendAsync(stub.Request("/v1/agents/stream", body, stub.Sign(stub.Claims(body)), "version:8.1.0"));

        response.Headers.GetValues("X-Contract-Version").Single().ShouldBe("8.1.0");
        Events(await response.Content.ReadAsStringAsync())[0].Data.ShouldContain("\"contract_version\":\"8.1.0\"");
    }

    [Theory]
    [InlineData("ensemble_strategy")]
    [InlineData("ensemble_n")]
    [InlineData("ensemble_quorum")]
    public async Task Invoke_EnsembleClaimMissing_IsInvalidRequest(string missing)
    {
        var body = StubFixture.Body();
        var claims = stub.Claims(body);
        claims["ensemble_strategy"] = "best_of_n";
        claims["ensemble_n"] = 2;
        claims["ensemble_quorum"] = 1;
        claims.Remove(missing);

        (await StubFixture.ErrorOf(await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, stub.Sign(claims)))))
            .ShouldBe((HttpStatusCode.BadRequest, "INVALID_REQUEST"));
    }

    [Fact]
    public async Task Invoke_EnsembleOneOfThreeFails_BillsTheTwoThatAnswered()
    {
        var body = StubFixture.Body(new string('x', 400));
        var claims = stub.Claims(body, poolId: "reviewer");
        claims["ensemble_strategy"] = "best_of_n";
        claims["ensemble_n"] = 3;
        claims["ensemble_quorum"] = 1;

        var response = await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, stub.Sign(claims), "ensemble-fail:0"));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        json.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt64().ShouldBe(2 * 100);
        json.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt64().ShouldBe(2 * 24);
        // Two calls of 490 µUSD each (see Invoke_ValidToken_AnswersWithUsageCostAndHeaders); the failed one costs nothing.
        json.RootElement.GetProperty("cost_micro").GetString().ShouldBe("980");
    }

    [Fact]
    public async Task Invoke_EnsembleEveryCallFails_IsProviderUnavailable()
    {
        var body = StubFixture.Body();
        var claims = stub.Claims(body);
        claims["ensemble_strategy"] = "fallback";
        claims["ensemble_n"] = 2;
        claims["ensemble_quorum"] = 1;

        (await StubFixture.ErrorOf(await stub.Client.SendAsync(stub.Request("/v1/agents/invoke", body, stub.Sign(claims), "ensemble-fail:0,1"))))
            .ShouldBe((HttpStatusCode.ServiceUnavailable, "PROVIDER_UNAVAILABLE"));
    }

    private static List<(int Id, string Name, string Data)> Events(string text) =>
        text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(block => block.Split('\n').ToDictionary(line => line[..line.IndexOf(':', StringComparison.Ordinal)], line => line[(line.IndexOf(':', StringComparison.Ordinal) + 2)..]))
            .Select(fields => (int.Parse(fields["id"]), fields["event"], fields["data"]))
            .ToList();
}
