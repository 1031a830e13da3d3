using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Developers;

public sealed class DevelopersCapability : ICapability
{
    public object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors) =>
        DevelopersSettings.Load(configuration, isDevelopment, errors);

    public void AddServices(IServiceCollection services, FreesideSettings settings)
    {
        services.AddSingleton<ApiKeyVerifier>();
        services.AddSingleton<ApiKeyChanges>();
        services.AddHostedService(provider => provider.GetRequiredService<ApiKeyChanges>());
        services.AddSingleton<DailyTokens>();
        services.AddSingleton<DeveloperAccountIds>();
    }
}
