using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Freeside.Features.Linking;

public sealed class LinkingCapability : ICapability
{
    public object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors) =>
        LinkingSettings.Load(configuration, errors);

    public void AddServices(IServiceCollection services, FreesideSettings settings)
    {
        var linking = settings.Capability<LinkingSettings>();
        services.TryAddSingleton(new LinkUrls(linking.PublicBaseUrl ?? settings.PublicUrls[0]));
    }
}
