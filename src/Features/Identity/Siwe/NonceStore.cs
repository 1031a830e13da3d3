using System.Security.Cryptography;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Common.Redis;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Freeside.Features.Identity.Siwe;

/// <summary>
/// Single-use SIWE nonces. PostgreSQL (siwe_nonces) is the record and has the last word: a nonce is
/// accepted only by the one conditional UPDATE that flips consumed_at from NULL, which serialises
/// replicas and survives Redis restarts or Redis snapshots restored from before the consumption.
/// Redis fronts it: an atomic GET+DEL refuses replays and unknown nonces without touching PostgreSQL,
/// and when Redis is down PostgreSQL alone decides.
/// </summary>
public sealed partial class NonceStore(FreesideDb db, RedisConnection redis, TimeProvider time, ILogger<NonceStore> logger)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    private static string Key(string nonce) => "freeside:identity:siwe-nonce:" + nonce;

    /// <summary>128 random bits as 32 lower-case hex characters (EIP-4361 wants alphanumeric, at least 8).</summary>
    public async Task<SiweNonce> IssueAsync()
    {
        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var now = time.GetUtcNow();
        var cached = false;
        if (redis.TryGetDatabase(out var cache))
        {
            try
            {
                cached = await cache.StringSetAsync(Key(nonce), "1", Lifetime, When.NotExists);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                LogRedisFailed(logger, e);
            }
        }

        var row = new SiweNonce { Nonce = nonce, IssuedAt = now, ExpiresAt = now + Lifetime, CachedInRedis = cached };
        db.Add(row);
        return row;
    }

    /// <summary>True exactly once per issued, unexpired nonce. Runs inside the caller's transaction.</summary>
    public async Task<bool> ConsumeAsync(string nonce, CancellationToken cancellationToken)
    {
        var redisAnswered = false;
        var redisHeldIt = false;
        if (redis.TryGetDatabase(out var cache))
        {
            try
            {
                redisHeldIt = (await cache.StringGetDeleteAsync(Key(nonce))).HasValue;
                redisAnswered = true;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                LogRedisFailed(logger, e);
            }
        }

        // Redis answered "not held": only a nonce Redis never held (issued while Redis was away) may still be good.
        var onlyUncached = redisAnswered && !redisHeldIt;
        var now = time.GetUtcNow();
        var consumed = await db.Database.ExecuteSqlAsync(
            $"""
            UPDATE siwe_nonces SET consumed_at = {now}
            WHERE nonce = {nonce} AND consumed_at IS NULL AND expires_at > {now} AND (NOT {onlyUncached} OR NOT cached_in_redis)
            """,
            cancellationToken);
        return consumed == 1;
    }

    [LoggerMessage(EventId = 4301, Level = LogLevel.Warning, Message = "Redis failed on the SIWE nonce store; PostgreSQL decides alone")]
    private static partial void LogRedisFailed(ILogger logger, Exception exception);
}
