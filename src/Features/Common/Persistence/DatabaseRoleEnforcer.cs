using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freeside.Features.Common.Persistence;

/// <summary>
/// The start-up role check cannot run while PostgreSQL is down, and a role can gain BYPASSRLS later;
/// so every new physical connection is checked too (pooled connections are reused, so this is one
/// catalog query per connection opened, not per request). A refused role stops the service with
/// exit code 2 and the same one line as at start-up; the request that met it gets a 503.
/// </summary>
/// <remarks>Without a host (benchmarks and tools build the services alone) nothing is stopped; the refusal still throws.</remarks>
public sealed partial class DatabaseRoleEnforcer(ILogger<DatabaseRoleEnforcer> logger, IHostApplicationLifetime? lifetime = null)
{
    public void Check(NpgsqlConnection connection) => CheckAsync(connection).GetAwaiter().GetResult();

    public async Task CheckAsync(NpgsqlConnection connection)
    {
        if (await DatabaseRoleGuard.RefusalAsync(connection, CancellationToken.None) is not { } refusal)
        {
            return;
        }

        LogRefused(logger, refusal);
        await Console.Error.WriteLineAsync("freeside: configuration error: " + refusal);
        Environment.ExitCode = 2;
        lifetime?.StopApplication();
        throw new DatabaseRoleRefusedException(refusal);
    }

    [LoggerMessage(EventId = 9301, Level = LogLevel.Critical, Message = "Stopping: {Refusal}")]
    private static partial void LogRefused(ILogger logger, string refusal);
}

/// <summary>The database role may not serve (<see cref="DatabaseRoleGuard"/>): the service is stopping.</summary>
public sealed class DatabaseRoleRefusedException(string message) : Exception(message);
