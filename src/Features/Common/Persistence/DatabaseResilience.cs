using System.Data.Common;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Freeside.Features.Common.Persistence;

/// <summary>
/// Re-runs a unit of work only when PostgreSQL itself says the transaction was rolled back
/// (serialization failure, deadlock victim): nothing was written, so running it again is safe even
/// for a money command. A lost connection is never retried: a commit may have happened, and while
/// the database is down a retry only makes the caller wait (the request answers 503 at once).
/// </summary>
public sealed class RolledBackOnlyExecutionStrategy(ExecutionStrategyDependencies dependencies)
    : ExecutionStrategy(dependencies, MaxRetries, TimeSpan.FromMilliseconds(200))
{
    private const int MaxRetries = 3;

    protected override bool ShouldRetryOn(Exception exception) =>
        exception is PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected };

    // EF's default back-off starts near a second; a deadlock victim can go again almost at once.
    protected override TimeSpan? GetNextDelay(Exception lastException) =>
        base.GetNextDelay(lastException) is null ? null : TimeSpan.FromMilliseconds(Random.Shared.Next(5, 50) * ExceptionsEncountered.Count);
}

public static class DatabaseFailures
{
    /// <summary>Seconds a client should wait before trying again while PostgreSQL is unreachable.</summary>
    public const int RetryAfterSeconds = 2;

    /// <summary>
    /// The connect timeout the app's data source uses unless DATABASE_URL sets one: an unreachable
    /// database must answer 503 quickly instead of holding the request (Npgsql's default is 15 s).
    /// It also bounds the wait for a pooled connection, so an exhausted pool sheds load the same way.
    /// </summary>
    public const int DefaultConnectTimeoutSeconds = 1;

    /// <summary>True when the failure means "PostgreSQL cannot be reached or is shutting down", not a bug.</summary>
    public static bool IsUnavailable(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case DatabaseRoleRefusedException:
                    return true;
                case PostgresException postgres when IsUnavailableState(postgres.SqlState):
                    return true;
                case PostgresException:
                    return false;
                case NpgsqlException { IsTransient: true }:
                    return true;
            }
        }

        return false;
    }

    /// <summary>Connection exceptions (08), shutdown and start-up (57P01-57P03), too many connections (53300).</summary>
    private static bool IsUnavailableState(string state) =>
        state.StartsWith("08", StringComparison.Ordinal)
        || state is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow
            or PostgresErrorCodes.TooManyConnections;

    /// <summary>Sets <see cref="DefaultConnectTimeoutSeconds"/> unless the connection string names a timeout of its own.</summary>
    public static void ApplyDefaultConnectTimeout(NpgsqlConnectionStringBuilder builder, string connectionString)
    {
        var given = new DbConnectionStringBuilder { ConnectionString = connectionString };
        if (!given.ContainsKey("Timeout") && !given.ContainsKey("Connect Timeout") && !given.ContainsKey("Connection Timeout"))
        {
            builder.Timeout = DefaultConnectTimeoutSeconds;
        }
    }
}
