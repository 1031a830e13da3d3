using System.Reflection;
using Microsoft.AspNetCore.Routing;

namespace Freeside.Features.Common.Endpoints;

public static class EndpointModuleDiscovery
{
    public static IReadOnlyList<Type> FindModules(params Assembly[] assemblies) =>
        assemblies.SelectMany(a => a.GetTypes())
            .Where(t => t is { IsAbstract: false, IsInterface: false } && typeof(IEndpointModule).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .ToList();

    public static IEndpointRouteBuilder MapEndpointModules(this IEndpointRouteBuilder app, params Assembly[] assemblies)
    {
        foreach (var type in FindModules(assemblies))
        {
            var module = (IEndpointModule)(Activator.CreateInstance(type)
                ?? throw new InvalidOperationException($"{type} must have a parameterless constructor."));
            module.AddRoutes(app);
        }

        return app;
    }
}
