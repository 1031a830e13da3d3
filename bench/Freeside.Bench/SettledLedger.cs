using Npgsql;

namespace Freeside.Bench;

/// <summary>How a chat benchmark's reservations ended, read once the load is over (inference, ws).</summary>
public sealed record SettledLedger(long Reserved, long Finalized, long Pending, long Released, long UsageEvents, long WebMessages, long UsageMicro, long ChargedMicro)
{
    public static async Task<SettledLedger> ReadAsync(string ownerConnectionString)
    {
        await using var connection = new NpgsqlConnection(ownerConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM credit_reservations),
                   (SELECT count(*) FROM credit_reservations WHERE status = 'finalized'),
                   (SELECT count(*) FROM credit_reservations WHERE status = 'pending'),
                   (SELECT count(*) FROM credit_reservations WHERE status = 'released'),
                   (SELECT count(*) FROM usage_events),
                   (SELECT count(*) FROM agent_messages WHERE source = 'web'),
                   (SELECT coalesce(sum(amount_micro), 0)::bigint FROM usage_events),
                   (SELECT coalesce(sum(charged), 0)::bigint FROM credit_reservations WHERE status = 'finalized')
            """, connection);
        await using var reader = await query.ExecuteReaderAsync();
        await reader.ReadAsync();
        return new SettledLedger(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5),
            reader.GetInt64(6), reader.GetInt64(7));
    }
}
