using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Redis;
using Microsoft.Extensions.Caching.Memory;
using StackExchange.Redis;

namespace Freeside.Features.Identity.Ownership;

/// <summary>
/// Chain answers for NFT_OWNERSHIP_CACHE_SECONDS (60 s): in Redis, shared by replicas, or in this
/// process's memory while Redis is away. Only answers are cached; a failure is asked again next time.
/// </summary>
public sealed class OwnershipCache(RedisConnection redis, IMemoryCache memory, IdentitySettings settings)
{
    public async Task<Result<string>> GetOrReadAsync(string key, Func<CancellationToken, Task<Result<string>>> read, CancellationToken cancellationToken)
    {
        var ttl = settings.OwnershipCacheTtl;
        if (ttl <= TimeSpan.Zero)
        {
            return await read(cancellationToken);
        }

        var redisKey = "freeside:nft:" + key;
        var useRedis = redis.TryGetDatabase(out var db);
        if (useRedis)
        {
            try
            {
                var cached = await db.StringGetAsync(redisKey);
                if (cached.HasValue)
                {
                    return (string)cached!;
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                useRedis = false;
            }
        }

        if (!useRedis && memory.TryGetValue(redisKey, out string? local) && local is not null)
        {
            return local;
        }

        var fresh = await read(cancellationToken);
        if (!fresh.IsSuccess)
        {
            return fresh;
        }

        if (useRedis)
        {
            try
            {
                await db.StringSetAsync(redisKey, fresh.Value, ttl);
                return fresh;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
            }
        }

        memory.Set(redisKey, fresh.Value, ttl);
        return fresh;
    }
}
