using System.Net.Http.Json;
using Freeside.Tests.Infrastructure;

namespace Freeside.Contract;

public sealed class CommunityContractTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private static readonly object Demo = new
    {
        slug = "shape",
        name = "Shape Club",
        chain_id = 1,
        collection_address = "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d",
        default_access_level = "pro",
    };

    [Fact]
    public async Task CreateAndGetCommunity_WireShapes_MatchApproved()
    {
        var admin = app.CreateAdminClient();
        var created = await admin.PostAsJsonAsync("/api/v1/admin/communities", Demo);
        var fetched = await app.CreateClient().GetAsync("/api/v1/communities/shape");
        var conflict = await admin.PostAsJsonAsync("/api/v1/admin/communities", Demo);
        var invalid = await admin.PostAsJsonAsync("/api/v1/admin/communities", new { slug = "NO", name = "", chain_id = 0, collection_address = "x", default_access_level = "pro" });
        var missing = await app.CreateClient().GetAsync("/api/v1/communities/none");
        var unauthorized = await app.CreateClient().PostAsJsonAsync("/api/v1/admin/communities", Demo);

        var shapes = string.Join("\n", await Task.WhenAll(
            Describe("201 create", created), Describe("200 get", fetched), Describe("409 duplicate", conflict),
            Describe("400 invalid", invalid), Describe("404 missing", missing), Describe("401 no token", unauthorized)));
        shapes.ShouldMatchApproved(o => o.NoDiff());
    }

    [Fact]
    public async Task Health_WireShape_MatchesApproved()
    {
        var response = await app.CreateClient().GetAsync("/health");
        var body = WireShape.Normalize(await response.Content.ReadAsStringAsync());

        // Latencies and uptime vary run to run; their presence and type are the contract.
        System.Text.RegularExpressions.Regex.Replace(body, "(\"(latency_ms|uptime_s)\": )[0-9.]+", "$1<number>")
            .Replace("\"version\": \"" + typeof(Program).Assembly.GetName().Version!.ToString(3) + "\"", "\"version\": \"<version>\"", StringComparison.Ordinal)
            .ShouldMatchApproved(o => o.NoDiff().WithFileExtension("json"));
    }

    private static async Task<string> Describe(string label, HttpResponseMessage response) =>
        $"## {label}: {(int)response.StatusCode} {response.Content.Headers.ContentType?.MediaType}\n{WireShape.Normalize(await response.Content.ReadAsStringAsync())}\n";
}
