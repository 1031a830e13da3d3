using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Ledger;

public sealed class LedgerCapability : ICapability
{
    public object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors) =>
        LedgerSettings.Load(configuration, errors);

    public void AddServices(IServiceCollection services, FreesideSettings settings) =>
        services.AddLedger(settings.Capability<LedgerSettings>());
}
