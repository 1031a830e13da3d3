using FluentValidation;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Jobs;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Observability;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Common.Redis;
using Freeside.Features.Common.Time;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freeside.Features.Common;

public static class FeatureRegistration
{
    /// <summary>The kernel (persistence, Redis, pipeline, metrics) and every <see cref="ICapability"/> in this assembly.</summary>
    public static IServiceCollection AddFreesideFeatures(this IServiceCollection services, FreesideSettings settings, IConfiguration configuration)
    {
        services.AddSingleton(settings);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ProcessClock>();

        services.AddSingleton<DatabaseRoleEnforcer>();
        services.AddSingleton(provider =>
        {
            var builder = new NpgsqlDataSourceBuilder(settings.DatabaseConnectionString);
            builder.ConnectionStringBuilder.ApplicationName ??= "freeside";
            // Freeside keeps no session state on a connection: every setting it makes is transaction-local
            // (TenantScope, SET LOCAL), locks are transaction-level, and it never LISTENs or makes temp tables.
            // So the reset Npgsql would send with a reused connection's next command (seven statements:
            // RESET ALL, DISCARD TEMP, …) is server work on every checkout for nothing; the chat path checks
            // out a connection about six times per chat.
            builder.ConnectionStringBuilder.NoResetOnClose = true;
            // A statement sent twice on a connection is prepared there (unless the connection string says otherwise), so
            // PostgreSQL parses and analyses it once per connection instead of on every execution: with 256 chats at
            // once, parse, analysis and planning of unprepared statements were about a sixth of the machine's CPU.
            // The ledger prepares its own statements; this covers EF's and the other capabilities' (docs/inference.md).
            if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0)
            {
                builder.ConnectionStringBuilder.MaxAutoPrepare = 128;
                builder.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
            }
            DatabaseFailures.ApplyDefaultConnectTimeout(builder.ConnectionStringBuilder, settings.DatabaseConnectionString);
            if (settings.RequireLeastPrivilegeRole)
            {
                var enforcer = provider.GetRequiredService<DatabaseRoleEnforcer>();
                builder.UsePhysicalConnectionInitializer(enforcer.Check, enforcer.CheckAsync);
            }

            return builder.Build();
        });
        services.AddDbContextPool<FreesideDb>((provider, options) => options
            .UseNpgsql(provider.GetRequiredService<NpgsqlDataSource>(), npgsql => npgsql.ExecutionStrategy(dependencies => new RolledBackOnlyExecutionStrategy(dependencies)))
            .AddInterceptors(StatementCounter.Instance)
            .ConfigureWarnings(w => w.Ignore(RelationalEventId.PendingModelChangesWarning)));

        services.AddSingleton(new RedisSettings(settings.RedisConfiguration, settings.RedisKeyPrefix));
        services.AddSingleton<RedisConnection>();
        services.AddFreesideRateLimiting(settings.RateLimits);

        services.AddFreesideObservability(configuration);
        services.AddFreesideMediation(typeof(FeatureRegistration).Assembly);
        services.AddFreesideJobs(settings);

        foreach (var capabilitySettings in settings.CapabilitySettings)
        {
            services.AddSingleton(capabilitySettings.GetType(), capabilitySettings);
        }

        foreach (var capability in Capabilities.All)
        {
            capability.AddServices(services, settings);
        }

        // Validation messages and keys name fields as they appear on the wire (snake_case).
        ValidatorOptions.Global.PropertyNameResolver = (_, member, _) => member is null ? null : SnakeCaseNames.ToSnakeCase(member.Name);
        ValidatorOptions.Global.DisplayNameResolver = (_, member, _) => member is null ? null : SnakeCaseNames.ToSnakeCase(member.Name);
        return services;
    }
}
