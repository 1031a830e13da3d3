using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Freeside.Features.Payments;

public sealed class PaymentsCapability : ICapability
{
    public object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors) =>
        PaymentsSettings.Load(configuration, isDevelopment, errors);

    public void AddServices(IServiceCollection services, FreesideSettings settings)
    {
        services.TryAddSingleton<PaymentsMetrics>();
        services.TryAddSingleton(new IpnVerifier(settings.Capability<PaymentsSettings>().IpnSecret));
    }
}
