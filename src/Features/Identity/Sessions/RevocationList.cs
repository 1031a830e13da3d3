using Freeside.Features.Common.Redis;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace Freeside.Features.Identity.Sessions;

/// <summary>
/// Logged-out session ids. PostgreSQL (revoked_sessions) is the record; Redis answers the per-request
/// question fast. Redis is only believed while it holds the "synced" marker, which is written after
/// every unexpired revocation has been copied into it: a Redis that restarted empty has no marker,
/// so its silence is not taken as "not revoked" and PostgreSQL answers until the copy is done.
/// With Redis down, PostgreSQL answers every time; neither path ever defaults to "allow".
/// </summary>
public sealed partial class RevocationList(RedisConnection redis, NpgsqlDataSource database, TimeProvider time, ILogger<RevocationList> logger)
{
    internal const string SyncedMarker = "freeside:identity:revocations:synced";

    // -1: Redis has not been synced from PostgreSQL; 0/1: the jti's revocation flag.
    private const string CheckScript = """
        if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
        return redis.call('EXISTS', KEYS[1])
        """;

    private int _syncing;

    internal static string Key(Guid jti) => "freeside:identity:revoked:" + jti.ToString("N");

    /// <summary>Mirrors a revocation (already written to PostgreSQL by the caller's transaction) into Redis.</summary>
    public async Task MirrorAsync(Guid jti, DateTimeOffset expiresAt)
    {
        var ttl = expiresAt - time.GetUtcNow();
        if (ttl <= TimeSpan.Zero || !redis.TryGetDatabase(out var db))
        {
            return;
        }

        try
        {
            await db.StringSetAsync(Key(jti), "1", ttl);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogRedisFailed(logger, e);
        }
    }

    public async ValueTask<bool> IsRevokedAsync(Guid jti, CancellationToken cancellationToken)
    {
        if (redis.TryGetDatabase(out var db))
        {
            try
            {
                var answer = (int)await db.ScriptEvaluateAsync(CheckScript, [Key(jti), SyncedMarker]);
                if (answer >= 0)
                {
                    return answer == 1;
                }

                SyncInBackground(db);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                LogRedisFailed(logger, e);
            }
        }

        await using var command = database.CreateCommand("SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE jti = $1)");
        command.Parameters.Add(new NpgsqlParameter { Value = jti });
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private void SyncInBackground(IDatabase db)
    {
        if (Interlocked.Exchange(ref _syncing, 1) == 1)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                var now = time.GetUtcNow();
                await using (var command = database.CreateCommand("SELECT jti, expires_at FROM revoked_sessions WHERE expires_at > $1"))
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = now });
                    await using var reader = await command.ExecuteReaderAsync();
                    while (await reader.ReadAsync())
                    {
                        var ttl = reader.GetFieldValue<DateTimeOffset>(1) - now;
                        if (ttl > TimeSpan.Zero)
                        {
                            await db.StringSetAsync(Key(reader.GetGuid(0)), "1", ttl);
                        }
                    }
                }

                await db.StringSetAsync(SyncedMarker, now.ToUnixTimeSeconds());
            }
            catch (Exception e) when (e is RedisException or TimeoutException or NpgsqlException or ObjectDisposedException)
            {
                LogRedisFailed(logger, e);
            }
            finally
            {
                Interlocked.Exchange(ref _syncing, 0);
            }
        });
    }

    [LoggerMessage(EventId = 4201, Level = LogLevel.Warning, Message = "Redis failed on the session revocation list; PostgreSQL answers instead")]
    private static partial void LogRedisFailed(ILogger logger, Exception exception);
}
