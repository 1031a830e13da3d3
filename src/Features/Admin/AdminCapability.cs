using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Inference;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Admin;

public sealed class AdminCapability : ICapability
{
    public object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors) => null;

    public void AddServices(IServiceCollection services, FreesideSettings settings)
    {
        services.AddSingleton<BudgetGuard>();
        services.AddSingleton<IChatReservationGate>(provider => provider.GetRequiredService<BudgetGuard>());
    }
}
