using System.Collections.Concurrent;
using Freeside.Features.Common.Redis;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace Freeside.Features.Identity.Sessions;

/// <summary>
/// Logged-out session ids. PostgreSQL (revoked_sessions) is the record and decides every "not
/// revoked". Redis and this process only ever answer "revoked" early: a mirror write that was
/// skipped or lost (Redis briefly away, restarted empty, evicted) must never let a logged-out
/// token back in, so their silence is not trusted. The cost is one primary-key lookup per
/// authenticated request, which PostgreSQL answers from memory.
/// </summary>
public sealed partial class RevocationList(RedisConnection redis, NpgsqlDataSource database, TimeProvider time, ILogger<RevocationList> logger)
{
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _known = new();

    internal static string Key(Guid jti) => "freeside:identity:revoked:" + jti.ToString("N");

    /// <summary>Mirrors a revocation (already written to PostgreSQL by the caller's transaction) into Redis and this process.</summary>
    public async Task MirrorAsync(Guid jti, DateTimeOffset expiresAt)
    {
        var ttl = expiresAt - time.GetUtcNow();
        if (ttl <= TimeSpan.Zero)
        {
            return;
        }

        Remember(jti, expiresAt);
        if (!redis.TryGetDatabase(out var db))
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
        if (_known.TryGetValue(jti, out var until) && until > time.GetUtcNow())
        {
            return true;
        }

        if (redis.TryGetDatabase(out var db))
        {
            try
            {
                if (await db.KeyExistsAsync(Key(jti)))
                {
                    return true;
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                LogRedisFailed(logger, e);
            }
        }

        await using var command = database.CreateCommand("SELECT expires_at FROM revoked_sessions WHERE jti = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = jti });
        // timestamptz comes back as a UTC DateTime.
        if (await command.ExecuteScalarAsync(cancellationToken) is DateTime expiresAt)
        {
            Remember(jti, new DateTimeOffset(expiresAt, TimeSpan.Zero));
            return true;
        }

        return false;
    }

    private void Remember(Guid jti, DateTimeOffset expiresAt)
    {
        var now = time.GetUtcNow();
        if (_known.Count > 100_000)
        {
            foreach (var (old, until) in _known)
            {
                if (until <= now)
                {
                    _known.TryRemove(old, out _);
                }
            }
        }

        _known[jti] = expiresAt;
    }

    [LoggerMessage(EventId = 4201, Level = LogLevel.Warning, Message = "Redis failed on the session revocation list; PostgreSQL answers instead")]
    private static partial void LogRedisFailed(ILogger logger, Exception exception);
}
