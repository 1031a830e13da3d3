using Carter;
using Freeside.Features.Common;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Architecture;

public sealed class CarterScanTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public void AddCarter_RegistersExactlyTheFeaturesModules()
    {
        var features = typeof(FeatureRegistration).Assembly;
        var expected = features.GetTypes()
            .Where(t => t is { IsAbstract: false, IsInterface: false } && typeof(ICarterModule).IsAssignableFrom(t))
            .Select(t => t.FullName).Order(StringComparer.Ordinal).ToList();

        var registered = app.Services.GetServices<ICarterModule>()
            .Select(m => m.GetType().FullName).Order(StringComparer.Ordinal).ToList();

        expected.ShouldNotBeEmpty();
        registered.ShouldBe(expected);
    }

    [Fact]
    public async Task MapCarter_ModuleInATestAssembly_IsNotMapped()
    {
        var response = await app.CreateClient().GetAsync(StrayTestModule.Route);

        response.StatusCode.ShouldBe(System.Net.HttpStatusCode.NotFound);
    }
}

/// <summary>A module Carter's default scan (every loaded assembly) would find and map; ours must not.</summary>
public sealed class StrayTestModule : ICarterModule
{
    public const string Route = "/test-only/stray-carter-module";

    public void AddRoutes(IEndpointRouteBuilder app) => app.MapGet(Route, () => Results.Ok("mapped"));
}
