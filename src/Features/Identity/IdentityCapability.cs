using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Identity;

public sealed class IdentityCapability : ICapability
{
    public object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors) =>
        IdentitySettings.Load(configuration, isDevelopment, errors);

    public void AddServices(IServiceCollection services, FreesideSettings settings) =>
        services.AddIdentity(settings.Capability<IdentitySettings>());
}
