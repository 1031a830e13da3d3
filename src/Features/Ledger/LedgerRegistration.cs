using Freeside.Features.Common.Mediation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Quartz;

namespace Freeside.Features.Ledger;

public static class LedgerRegistration
{
    public static IServiceCollection AddLedger(this IServiceCollection services, LedgerSettings settings)
    {
        services.TryAddSingleton<LedgerMetrics>();
        services.TryAddSingleton<LedgerBatcher>();
        services.TryAddSingleton<ViolationLog>();
        services.TryAddScoped<LedgerStore>();
        services.TryAddEnumerable(ServiceDescriptor.Scoped<IConservationCheck, LedgerConservationCheck>());

        services.ConfigureAllQuartzSchedulers(LedgerJobs.Schedule);

        return services;
    }
}
