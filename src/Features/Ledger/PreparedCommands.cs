using System.Data.Common;
using Npgsql;

namespace Freeside.Features.Ledger;

/// <summary>
/// The ledger's statements run thousands of times a second with the same text; preparing them keeps
/// PostgreSQL from re-planning the guard's query on every command (Npgsql reuses a statement already
/// prepared on the pooled connection).
/// </summary>
internal static class PreparedCommands
{
    public static async Task<int> ExecutePreparedAsync(this NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await command.PrepareAsync(cancellationToken);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public static async Task<DbDataReader> ExecuteReaderPreparedAsync(this NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await command.PrepareAsync(cancellationToken);
        return await command.ExecuteReaderAsync(cancellationToken);
    }

    public static async Task<object?> ExecuteScalarPreparedAsync(this NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await command.PrepareAsync(cancellationToken);
        return await command.ExecuteScalarAsync(cancellationToken);
    }
}
