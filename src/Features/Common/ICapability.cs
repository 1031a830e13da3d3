using Freeside.Features.Common.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Common;

/// <summary>
/// A capability's start-up: reads and checks its own settings, then registers its services, jobs and
/// checks. The kernel finds implementations in this assembly (<see cref="Capabilities"/>), so Common
/// names no capability. Implementations have a parameterless constructor and hold no state.
/// </summary>
public interface ICapability
{
    /// <summary>
    /// The capability's settings record, or null when it has none. Each bad setting adds one line,
    /// naming the setting, to <paramref name="errors"/>.
    /// </summary>
    object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors);

    /// <summary>Registers the capability's services. Its settings record is already a singleton.</summary>
    void AddServices(IServiceCollection services, FreesideSettings settings);
}

public static class Capabilities
{
    /// <summary>Every <see cref="ICapability"/> in this assembly, in full-name order.</summary>
    public static IReadOnlyList<ICapability> All { get; } = typeof(ICapability).Assembly.GetTypes()
        .Where(t => t is { IsAbstract: false, IsInterface: false } && t.IsAssignableTo(typeof(ICapability)))
        .OrderBy(t => t.FullName, StringComparer.Ordinal)
        .Select(t => (ICapability)(Activator.CreateInstance(t)
            ?? throw new InvalidOperationException($"{t} must have a parameterless constructor.")))
        .ToList();
}
