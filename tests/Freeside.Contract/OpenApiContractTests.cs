using Freeside.Tests.Infrastructure;

namespace Freeside.Contract;

public sealed class OpenApiContractTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task OpenApiDocument_MatchesApproved()
    {
        var response = await app.CreateClient().GetAsync("/openapi/v1.json");
        response.EnsureSuccessStatusCode();

        WireShape.Normalize(await response.Content.ReadAsStringAsync()).ShouldMatchApproved(o => o.NoDiff().WithFileExtension("json"));
    }

    [Fact]
    public async Task OpenApiDocument_DescribesEveryMappedRoute()
    {
        var document = await app.CreateClient().GetStringAsync("/openapi/v1.json");

        foreach (var route in new[] { "/health", "/api/v1/admin/communities", "/api/v1/communities/{slug}" })
        {
            document.ShouldContain($"\"{route}\"");
        }
    }
}
