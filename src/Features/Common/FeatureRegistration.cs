using FluentValidation;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Observability;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Common.Redis;
using Freeside.Features.Common.Time;
using Freeside.Features.Identity;
using Freeside.Features.Ledger;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Quartz;

namespace Freeside.Features.Common;

public static class FeatureRegistration
{
    /// <summary>The kernel (persistence, Redis, pipeline, metrics) and every capability in this assembly.</summary>
    public static IServiceCollection AddFreesideFeatures(this IServiceCollection services, FreesideSettings settings, IConfiguration configuration)
    {
        services.AddSingleton(settings);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ProcessClock>();

        services.AddSingleton(_ =>
        {
            var builder = new NpgsqlDataSourceBuilder(settings.DatabaseConnectionString);
            builder.ConnectionStringBuilder.ApplicationName ??= "freeside";
            DatabaseFailures.ApplyDefaultConnectTimeout(builder.ConnectionStringBuilder, settings.DatabaseConnectionString);
            return builder.Build();
        });
        services.AddDbContext<FreesideDb>((provider, options) => options
            .UseNpgsql(provider.GetRequiredService<NpgsqlDataSource>(), npgsql => npgsql.ExecutionStrategy(dependencies => new RolledBackOnlyExecutionStrategy(dependencies)))
            .ConfigureWarnings(w => w.Ignore(RelationalEventId.PendingModelChangesWarning)));

        services.AddSingleton(new RedisSettings(settings.RedisConfiguration));
        services.AddSingleton<RedisConnection>();

        services.AddFreesideObservability(configuration);
        services.AddFreesideMediation(typeof(FeatureRegistration).Assembly);
        if (settings.JobsEnabled)
        {
            // One scheduler per process, in memory; capabilities add their jobs with
            // ConfigureAllQuartzSchedulers, and jobs that must run once across replicas take a
            // PostgreSQL advisory lock inside their command (docs/ledger.md).
            services.AddQuartz(_ => { });
            services.AddQuartzHostedService(options => options.WaitForJobsToComplete = true);
        }

        services.AddLedger(settings.Ledger);
        services.AddIdentity(settings);

        // Validation messages and keys name fields as they appear on the wire (snake_case).
        ValidatorOptions.Global.PropertyNameResolver = (_, member, _) => member is null ? null : SnakeCaseNames.ToSnakeCase(member.Name);
        ValidatorOptions.Global.DisplayNameResolver = (_, member, _) => member is null ? null : SnakeCaseNames.ToSnakeCase(member.Name);
        return services;
    }
}
