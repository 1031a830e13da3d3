using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freeside.Features.Common.Persistence;

/// <summary>
/// Applies the hand-written, forward-only migrations as the owner role (never as the app role,
/// which has no DDL rights). Used by `Freeside.Web migrate` and by Development start-up.
/// </summary>
public static class DatabaseMigrator
{
    public static async Task MigrateAsync(string ownerConnectionString, ILoggerFactory? loggerFactory, CancellationToken cancellationToken)
    {
        await using var db = new FreesideDb(OwnerOptions(ownerConnectionString, loggerFactory));
        await db.Database.MigrateAsync(cancellationToken);
    }

    public static IReadOnlyList<string> All() =>
        typeof(DatabaseMigrator).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(Migration)))
            .Select(t => t.GetCustomAttributes(typeof(MigrationAttribute), false).Cast<MigrationAttribute>().Single().Id)
            .Order(StringComparer.Ordinal)
            .ToList();

    private static DbContextOptions<FreesideDb> OwnerOptions(string connectionString, ILoggerFactory? loggerFactory)
    {
        // Unpooled: a pooled owner connection would stay open, idle, in a web process that migrated on
        // start (Development), long after the migration; the owner is never kept around.
        var unpooled = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = "freeside-migrate" }.ConnectionString;
        var builder = new DbContextOptionsBuilder<FreesideDb>()
            .UseNpgsql(unpooled, npgsql => npgsql.MigrationsHistoryTable("schema_migrations"))
            // The model is mapped by hand onto SQL migrations; EF has no snapshot to compare it with.
            .ConfigureWarnings(w => w.Ignore(RelationalEventId.PendingModelChangesWarning));
        if (loggerFactory is not null)
        {
            builder.UseLoggerFactory(loggerFactory);
        }

        return builder.Options;
    }
}
