using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Identity.Ownership;

public sealed class OwnershipTests(ChainApp app) : IClassFixture<ChainApp>
{
    private async Task CommunityAsync(string slug, long chainId, string collection)
    {
        var response = await app.CreateAdminClient().PostAsJsonAsync("/api/v1/admin/communities",
            new { slug, name = slug, chain_id = chainId, collection_address = collection, default_access_level = "pro" });
        response.StatusCode.ShouldBeOneOf(HttpStatusCode.Created, HttpStatusCode.Conflict);
    }

    private async Task<HttpResponseMessage> MyNftsAsync(TestWallet wallet, string query) =>
        await app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, wallet)).GetAsync("/api/v1/me/nfts?" + query);

    [Fact]
    public async Task MyNfts_EnumerableCollection_ListsTheHoldersTokens()
    {
        await CommunityAsync("enumerable", 31337, app.Chain.Collection);

        var response = await MyNftsAsync(TestWallet.Demo, "community=enumerable");

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("enumerable").GetBoolean().ShouldBeTrue();
        body.GetProperty("holder").GetBoolean().ShouldBeTrue();
        body.GetProperty("balance").GetString().ShouldBe("3");
        body.GetProperty("token_ids").EnumerateArray().Select(t => t.GetString()).ShouldBe(["1", "2", "3"]);
        body.GetProperty("collection").GetString().ShouldBe(app.Chain.Collection);
    }

    [Fact]
    public async Task MyNfts_WalletWithoutTokens_IsNoHolder()
    {
        await CommunityAsync("enumerable", 31337, app.Chain.Collection);

        var body = await (await MyNftsAsync(TestWallet.Deployer, "community=enumerable")).Content.ReadFromJsonAsync<JsonElement>();

        body.GetProperty("holder").GetBoolean().ShouldBeFalse();
        body.GetProperty("token_ids").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task MyNfts_PlainCollection_ChecksOnlyTheAskedTokenIds()
    {
        await CommunityAsync("plain", 31337, app.Chain.PlainCollection);

        var listed = await (await MyNftsAsync(TestWallet.Demo, "community=plain")).Content.ReadFromJsonAsync<JsonElement>();
        var asked = await (await MyNftsAsync(TestWallet.Demo, "community=plain&token_id=2&token_id=3&token_id=7")).Content.ReadFromJsonAsync<JsonElement>();

        listed.GetProperty("enumerable").GetBoolean().ShouldBeFalse();
        listed.GetProperty("holder").GetBoolean().ShouldBeTrue();
        listed.GetProperty("token_ids").GetArrayLength().ShouldBe(0);
        asked.GetProperty("token_ids").EnumerateArray().Select(t => t.GetString()).ShouldBe(["2", "3"]);
    }

    [Fact]
    public async Task MyNfts_OwnershipFollowsATransferWithinTheCacheTtl()
    {
        await CommunityAsync("moving", 31337, app.Chain.PlainCollection);
        var demoToken = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        var thirdToken = await IdentityHttp.SessionTokenAsync(app, TestWallet.Third);
        async Task<string[]> OwnedAsync(string token) =>
            (await app.CreateClient().WithBearer(token).GetFromJsonAsync<JsonElement>("/api/v1/me/nfts?community=moving&token_id=1"))
                .GetProperty("token_ids").EnumerateArray().Select(t => t.GetString()!).ToArray();
        (await OwnedAsync(demoToken)).ShouldBe(["1"]);

        await app.Chain.TransferAsync(TestWallet.Demo, app.Chain.PlainCollection, TestWallet.Third.Address, 1);

        (await OwnedAsync(demoToken)).ShouldBe(["1"], "still the cached answer inside the TTL");
        await Task.Delay(TimeSpan.FromSeconds(ChainApp.OwnershipCacheSeconds + 0.5));
        (await OwnedAsync(demoToken)).ShouldBeEmpty();
        (await OwnedAsync(thirdToken)).ShouldBe(["1"]);
    }

    [Fact]
    public async Task MyNfts_ChainUnreachable_Is503NeverOwned()
    {
        await CommunityAsync("dead-chain", 1, "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d");

        var response = await MyNftsAsync(TestWallet.Demo, "community=dead-chain&token_id=1");

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await IdentityHttp.ProblemTypeAsync(response)).ShouldBe("chain-unavailable");
        (await response.Content.ReadAsStringAsync()).ShouldNotContain("token_ids");
    }

    [Fact]
    public async Task MyNfts_ChainSilent_TimesOutThenTheOpenBreakerAnswersWithoutCallingIt()
    {
        await CommunityAsync("silent-chain", 10, "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d");
        var client = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo));

        for (var i = 0; i < 4; i++)
        {
            var slow = await client.GetAsync("/api/v1/me/nfts?community=silent-chain");
            slow.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        }

        var reached = app.SilentChainConnections;
        var open = await client.GetAsync("/api/v1/me/nfts?community=silent-chain");

        reached.ShouldBeGreaterThan(0, "the slow calls went to the silent chain");
        open.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        app.SilentChainConnections.ShouldBe(reached, "the open breaker answers without calling the chain");
        (await open.Content.ReadAsStringAsync()).ShouldContain("paused");
    }

    [Fact]
    public async Task MyNfts_ChainNotConfigured_Is503()
    {
        await CommunityAsync("unknown-chain", 137, "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d");

        var response = await MyNftsAsync(TestWallet.Demo, "community=unknown-chain");

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await IdentityHttp.ProblemTypeAsync(response)).ShouldBe("chain-not-configured");
    }

    [Theory]
    [InlineData("community=enumerable&token_id=01")]
    [InlineData("community=enumerable&token_id=-1")]
    [InlineData("community=enumerable&token_id=abc")]
    [InlineData("token_id=1")]
    public async Task MyNfts_BadQuery_Is400(string query)
    {
        (await MyNftsAsync(TestWallet.Demo, query)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task MyNfts_Anonymous_Is401()
    {
        (await app.CreateClient().GetAsync("/api/v1/me/nfts?community=enumerable")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }
}
