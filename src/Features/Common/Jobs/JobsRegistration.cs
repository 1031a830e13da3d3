using Freeside.Features.Common.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Quartz;

namespace Freeside.Features.Common.Jobs;

public static class JobsRegistration
{
    /// <summary>The scheduler's name in the qrtz_* tables; every replica uses it, which is what makes them one cluster.</summary>
    public const string SchedulerName = "freeside";

    /// <summary>
    /// Quartz on its ADO job store in PostgreSQL with clustering on: every replica schedules the same
    /// triggers (capabilities add theirs with <c>ConfigureAllQuartzSchedulers</c>), and a row lock in
    /// qrtz_locks lets exactly one of them acquire each firing. A replica that stops checking in has its
    /// acquired triggers recovered by the others. With FREESIDE_JOBS_ENABLED=false no scheduler is built,
    /// so the process never joins the cluster.
    /// </summary>
    public static IServiceCollection AddFreesideJobs(this IServiceCollection services, FreesideSettings settings)
    {
        if (!settings.JobsEnabled)
        {
            return services;
        }

        // The app role, like every other query: the store needs DML on qrtz_* only (migration 0005_quartz).
        var connection = new NpgsqlConnectionStringBuilder(settings.DatabaseConnectionString) { ApplicationName = "freeside-jobs" }.ConnectionString;
        services.AddQuartz(SchedulerName, quartz => quartz.UsePersistentStore(store =>
        {
            store.UsePostgres(source => source.ConnectionString = connection);
            store.UseSystemTextJsonSerializer();
            store.UseClustering();
        }));
        services.AddHostedService<ClusteredSchedulerHost>();
        return services;
    }
}
