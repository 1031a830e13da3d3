using Freeside.Features.Common.Mediation;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Quartz;

namespace Freeside.Features.Ledger;

public static class LedgerRegistration
{
    public static IServiceCollection AddLedger(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = LedgerSettings.Load(configuration);
        services.AddSingleton(settings);
        services.TryAddSingleton<LedgerMetrics>();
        services.TryAddSingleton<LedgerBatcher>();
        services.TryAddSingleton<ViolationLog>();
        services.TryAddScoped<LedgerTouches>();
        services.TryAddEnumerable(ServiceDescriptor.Scoped<IConservationCheck, LedgerConservationCheck>());

        if (settings.JobsEnabled)
        {
            // In-memory store on every replica; the sweeps serialise on PostgreSQL advisory locks (docs/ledger.md).
            services.AddQuartz(LedgerJobs.Schedule);
            services.AddQuartzHostedService(options => options.WaitForJobsToComplete = true);
        }

        return services;
    }
}
