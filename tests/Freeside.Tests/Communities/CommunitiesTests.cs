using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Communities;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Communities;

public sealed class CommunitiesTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private static object Body(string slug, string address = "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d", long chainId = 1, string level = "pro") =>
        new { slug, name = "Bored Club", chain_id = chainId, collection_address = address, default_access_level = level };

    [Fact]
    public async Task CreateCommunity_AsPlatformAdmin_IsPubliclyReadable()
    {
        var created = await app.CreateAdminClient().PostAsJsonAsync("/api/v1/admin/communities", Body("bored"));

        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        created.Headers.Location!.ToString().ShouldBe("/api/v1/communities/bored");
        var view = await app.CreateClient().GetFromJsonAsync<JsonElement>("/api/v1/communities/bored");
        view.GetProperty("slug").GetString().ShouldBe("bored");
        view.GetProperty("chain_id").GetInt64().ShouldBe(1);
        view.GetProperty("collection_address").GetString().ShouldBe("0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d");
        view.GetProperty("default_access_level").GetString().ShouldBe("pro");
    }

    [Fact]
    public async Task CreateCommunity_DuplicateSlug_Conflicts()
    {
        var client = app.CreateAdminClient();
        (await client.PostAsJsonAsync("/api/v1/admin/communities", Body("twice"))).StatusCode.ShouldBe(HttpStatusCode.Created);

        var second = await client.PostAsJsonAsync("/api/v1/admin/communities", Body("twice"));

        second.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        var problem = await second.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("type").GetString().ShouldBe("https://freeside.dev/problems/already-exists");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM communities WHERE slug = 'twice'")).ShouldBe(1);
    }

    [Fact]
    public async Task CreateCommunity_ConcurrentSameSlug_OneWinsOthersConflict()
    {
        var client = app.CreateAdminClient();
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.PostAsJsonAsync("/api/v1/admin/communities", Body("racer"))));

        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(1);
        responses.Count(r => r.StatusCode == HttpStatusCode.Conflict).ShouldBe(7);
    }

    [Theory]
    [InlineData("Bad Slug", "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d", 1, "pro", "slug")]
    [InlineData("ok", "0x1234", 1, "pro", "collection_address")]
    [InlineData("ok", "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d", 0, "pro", "chain_id")]
    public async Task CreateCommunity_InvalidField_NamesTheField(string slug, string address, long chainId, string level, string field)
    {
        var response = await app.CreateAdminClient().PostAsJsonAsync("/api/v1/admin/communities", Body(slug, address, chainId, level));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM communities WHERE slug = @s", ("s", slug))).ShouldBe(0);
    }

    [Fact]
    public async Task CreateCommunity_UnknownAccessLevel_Is400NamingTheField()
    {
        var response = await app.CreateAdminClient().PostAsJsonAsync("/api/v1/admin/communities", Body("levels", level: "platinum"));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain("default_access_level");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer wrong-token-wrong-token-wrong")]
    [InlineData("Basic dGVzdA==")]
    public async Task CreateCommunity_WithoutAdminToken_Is401AndWritesNothing(string? authorization)
    {
        var client = app.CreateClient();
        if (authorization is not null)
        {
            client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", authorization);
        }

        var response = await client.PostAsJsonAsync("/api/v1/admin/communities", Body("sneaky"));

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM communities WHERE slug = 'sneaky'")).ShouldBe(0);
    }

    [Fact]
    public async Task GetCommunity_Unknown_Is404Problem()
    {
        var response = await app.CreateClient().GetAsync("/api/v1/communities/nobody");

        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("type").GetString().ShouldBe("https://freeside.dev/problems/not-found");
        problem.GetProperty("detail").GetString()!.ShouldContain("nobody");
    }

    [Fact]
    public async Task CreateCommunity_ThroughPipeline_StoresLowerCaseAddress()
    {
        var result = await app.SendAsync(new CreateCommunity.Command("piped", "Piped", 80094, "0xBC4CA0EDA7647A8AB7C2061C2E118A18A936F13D", AccessLevel.Enterprise));

        result.IsSuccess.ShouldBeTrue();
        (await app.Database.ScalarAsync<string>("SELECT collection_address FROM communities WHERE slug = 'piped'"))
            .ShouldBe("0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d");
    }
}

public sealed class CommunityRulesTests
{
    [Theory]
    [InlineData("0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d", true)]
    [InlineData("0xBC4CA0EDA7647A8AB7C2061C2E118A18A936F13D", true)]
    [InlineData("0xBC4CA0EdA7647A8aB7C2061c2E118A18a936f13D", true)]
    [InlineData("0xBC4CA0EdA7647A8aB7C2061c2E118A18a936f13d", false)]
    [InlineData("bc4ca0eda7647a8ab7c2061c2e118a18a936f13d", false)]
    [InlineData("0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13", false)]
    public void IsAddress_ChecksumRules(string address, bool valid) =>
        Freeside.Features.Communities.CommunityRules.IsAddress(address).ShouldBe(valid);
}
