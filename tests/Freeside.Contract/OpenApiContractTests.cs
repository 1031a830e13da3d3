using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

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
        var document = JsonNode.Parse(await app.CreateClient().GetStringAsync("/openapi/v1.json"))!;
        var paths = document["paths"]!.AsObject();

        // Every route the app maps, except the ones that opt out of the description (the document itself).
        var routes = app.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []).Select(method =>
                (Path: OpenApiPath(e.RoutePattern.RawText!), Method: method.ToLowerInvariant())))
            .ToList();

        routes.Count.ShouldBeGreaterThanOrEqualTo(17);
        routes.ShouldContain(("/health", "get"));
        routes.Where(r => paths[r.Path]?[r.Method] is null).Select(r => $"{r.Method.ToUpperInvariant()} {r.Path}").ShouldBeEmpty();
        paths.Sum(p => p.Value!.AsObject().Count).ShouldBe(routes.Count);
    }

    /// <summary>"/api/v1/x/{id:guid}/" as OpenAPI writes it: "/api/v1/x/{id}".</summary>
    private static string OpenApiPath(string pattern)
    {
        var path = Regex.Replace(pattern, @"\{(\*{0,2})([^}:=?]+)[^}]*\}", "{$2}");
        path = "/" + path.Trim('/');
        return path;
    }
}
