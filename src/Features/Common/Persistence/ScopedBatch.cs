using Npgsql;

namespace Freeside.Features.Common.Persistence;

/// <summary>
/// Statements under one community's row-level-security scope in one round trip, for short reads and
/// writes outside a command's transaction (the chat path), where BEGIN, the scope, the statement and
/// COMMIT would each cost a round trip. The scope and the statements travel as one batch, which
/// PostgreSQL runs as one implicit transaction (the batch ends in a single Sync): the transaction-local
/// scope holds for every statement of the batch, and a statement that fails rolls back the ones before it.
/// </summary>
public static class ScopedBatch
{
    /// <summary>A batch on <paramref name="connection"/> whose first statement enters <paramref name="communityId"/>'s scope.</summary>
    public static NpgsqlBatch Create(NpgsqlConnection connection, Guid communityId)
    {
        var batch = new NpgsqlBatch(connection);
        var scope = new NpgsqlBatchCommand("SELECT " + TenantScope.Set("@scope"));
        scope.Parameters.AddWithValue("scope", TenantScope.Of(communityId));
        batch.BatchCommands.Add(scope);
        return batch;
    }

    /// <summary>Runs the batch; the reader stands on the result of the first statement after the scope.</summary>
    public static async Task<NpgsqlDataReader> ReadAsync(NpgsqlBatch batch, CancellationToken cancellationToken)
    {
        var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        return reader;
    }
}
