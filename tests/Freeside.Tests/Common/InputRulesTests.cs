using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;
using Freeside.Tests.Ledger;

namespace Freeside.Tests.Common;

/// <summary>Issue 8 item 2: control characters, strict JSON, field-naming errors and one problem type scheme.</summary>
public sealed class InputRulesTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private const string Collection = "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d";

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>A 400 validation problem whose errors name <paramref name="field"/> and no CLR type anywhere.</summary>
    private static async Task<JsonElement> ShouldNameFieldAsync(HttpResponseMessage response, string field)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, text);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        text.ShouldNotContain("Freeside.", Case.Sensitive);
        text.ShouldNotContain("System.", Case.Sensitive);
        var problem = JsonSerializer.Deserialize<JsonElement>(text);
        problem.GetProperty("type").GetString().ShouldBe("https://freeside.dev/problems/validation-failed");
        problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue(text);
        return problem;
    }

    private Task<long> CommunitiesAsync() => app.Database.ScalarAsync<long>("SELECT count(*) FROM communities");

    private Task<long> LotsAsync() => app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_lots");

    [Theory]
    [InlineData("\\u0000")]
    [InlineData("\\u0007")]
    [InlineData("\\n")]
    [InlineData("\\t")]
    [InlineData("\\ud800")]
    public async Task CreateCommunity_ControlCharacterInName_Is400NamingNameAndWritesNothing(string escaped)
    {
        var before = await CommunitiesAsync();
        var slug = "ctl-" + Guid.NewGuid().ToString("N")[..12];
        var response = await app.CreateAdminClient().PostAsync("/api/v1/admin/communities", Json(
            $$"""{"slug":"{{slug}}","name":"a{{escaped}}b","chain_id":1,"collection_address":"{{Collection}}","default_access_level":"free"}"""));

        await ShouldNameFieldAsync(response, "name");
        (await CommunitiesAsync()).ShouldBe(before);
    }

    [Theory]
    [InlineData("reason")]
    [InlineData("idempotency_key")]
    public async Task Grant_NulInField_Is400NamingItAndWritesNothing(string field)
    {
        var slug = (await app.FundedCommunityAsync(0)).Slug;
        var body = new Dictionary<string, object> { ["amount_micro"] = 100, ["reason"] = "r", ["idempotency_key"] = "k" };
        body[field] = "x\0y";
        var before = await LotsAsync();

        var response = await app.CreateAdminClient().PostAsJsonAsync($"/api/v1/admin/communities/{slug}/grants", body);

        await ShouldNameFieldAsync(response, field);
        (await LotsAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task Reversal_NulInIdempotencyKey_Is400NamingIt()
    {
        var slug = (await app.FundedCommunityAsync(0)).Slug;

        var response = await app.CreateAdminClient().PostAsJsonAsync($"/api/v1/admin/communities/{slug}/reversals",
            new { reservation_id = Guid.NewGuid(), amount_micro = 1, reason = "r", idempotency_key = "k\0" });

        await ShouldNameFieldAsync(response, "idempotency_key");
    }

    [Fact]
    public async Task MyNfts_NulInQueryString_Is400NamingCommunity()
    {
        var client = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo));

        await ShouldNameFieldAsync(await client.GetAsync("/api/v1/me/nfts?community=%00"), "community");
    }

    [Fact]
    public async Task GetCommunity_ControlCharacterInRouteValue_Is400NamingSlug()
    {
        await ShouldNameFieldAsync(await app.CreateClient().GetAsync("/api/v1/communities/a%07b"), "slug");
    }

    [Fact]
    public async Task Grant_NumberSentAsString_Is400NamingTheFieldAndType()
    {
        var slug = (await app.FundedCommunityAsync(0)).Slug;
        var before = await LotsAsync();

        var response = await app.CreateAdminClient().PostAsync($"/api/v1/admin/communities/{slug}/grants",
            Json("""{"amount_micro":"100","reason":"r","idempotency_key":"k"}"""));

        var problem = await ShouldNameFieldAsync(response, "amount_micro");
        problem.GetProperty("errors").GetProperty("amount_micro")[0].GetString()!.ShouldContain("integer", customMessage: problem.ToString());
        (await LotsAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task Grant_DuplicateKey_Is400NamingIt()
    {
        var slug = (await app.FundedCommunityAsync(0)).Slug;
        var before = await LotsAsync();

        var response = await app.CreateAdminClient().PostAsync($"/api/v1/admin/communities/{slug}/grants",
            Json("""{"amount_micro":1,"amount_micro":1000000,"reason":"r","idempotency_key":"k"}"""));

        await ShouldNameFieldAsync(response, "amount_micro");
        (await LotsAsync()).ShouldBe(before);
    }

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("7")]
    public async Task SignIn_EmptyNullOrNonObjectBody_Is400NamingTheBody(string json)
    {
        await ShouldNameFieldAsync(await app.CreateClient().PostAsync("/api/v1/auth/siwe", Json(json)), "body");
    }

    [Fact]
    public async Task SignIn_WrongFieldType_NamesFieldAndJsonTypeNotClrType()
    {
        var problem = await ShouldNameFieldAsync(
            await app.CreateClient().PostAsync("/api/v1/auth/siwe", Json("""{"message":{"a":1},"signature":"0x"}""")), "message");

        problem.GetProperty("errors").GetProperty("message")[0].GetString()!.ShouldContain("a string", customMessage: problem.ToString());
    }

    [Fact]
    public async Task SignIn_MultiLineMessage_IsNotRefusedByTheTextRule()
    {
        var client = app.CreateClient();
        var message = TestWallet.Demo.Message(await IdentityHttp.NonceAsync(client));

        (await IdentityHttp.SignInAsync(client, message, TestWallet.Demo.Sign(message))).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task AddCommunityAdmin_ZeroAddress_Is400()
    {
        var slug = (await app.FundedCommunityAsync(0)).Slug;

        await ShouldNameFieldAsync(await app.CreateAdminClient().PostAsJsonAsync($"/api/v1/admin/communities/{slug}/admins",
            new { address = "0x" + new string('0', 40) }), "address");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM community_admins")).ShouldBe(0);
    }

    [Fact]
    public async Task CreateCommunity_ZeroCollection_Is400()
    {
        await ShouldNameFieldAsync(await app.CreateAdminClient().PostAsJsonAsync("/api/v1/admin/communities",
            new { slug = "zero", name = "Zero", chain_id = 1, collection_address = "0x" + new string('0', 40), default_access_level = "free" }),
            "collection_address");
    }

    [Theory]
    [InlineData("GET", "/api/v1/no-such-thing", null, HttpStatusCode.NotFound, "not-found")]
    [InlineData("DELETE", "/api/v1/communities/demo", null, HttpStatusCode.MethodNotAllowed, "method-not-allowed")]
    [InlineData("POST", "/api/v1/auth/siwe", "text/plain", HttpStatusCode.UnsupportedMediaType, "unsupported-media-type")]
    public async Task FrameworkStatus_IsProblemInFreesidesTypeScheme(string method, string path, string? contentType, HttpStatusCode status, string slug)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (contentType is not null)
        {
            request.Content = new StringContent("x", Encoding.UTF8, contentType);
        }

        var response = await app.CreateClient().SendAsync(request);

        response.StatusCode.ShouldBe(status);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString().ShouldBe("https://freeside.dev/problems/" + slug);
    }
}
