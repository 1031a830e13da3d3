using System.Collections.Concurrent;
using Freeside.Features.Common.Redis;
using Freeside.Features.Common.RateLimiting;
using StackExchange.Redis;

namespace Freeside.Features.Developers;

/// <summary>
/// Tokens per key per UTC day, shared by every replica in Redis. A call takes its worst case up front
/// (prompt estimate + max_tokens, cut to what is left) in one atomic script, so concurrent calls cannot
/// together pass the limit; when it ends, the unused part is given back. Without Redis each replica
/// counts in its own memory, as the rate limiter does.
/// </summary>
public sealed class DailyTokens(RedisConnection redis, TimeProvider time)
{
    // KEYS[1] the day's counter; ARGV: limit, wanted, least, ttl seconds. Returns {taken, used after}.
    private const string TakeScript = """
        local used = tonumber(redis.call('GET', KEYS[1]) or '0')
        local limit = tonumber(ARGV[1])
        local left = limit - used
        if left < tonumber(ARGV[3]) then
            return {0, used}
        end
        local take = math.min(tonumber(ARGV[2]), left)
        used = redis.call('INCRBY', KEYS[1], take)
        redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
        return {take, used}
        """;

    private readonly ConcurrentDictionary<string, long> _memory = new(StringComparer.Ordinal);

    public sealed record Taken(long Tokens, string CounterKey);

    /// <summary>Takes up to <paramref name="wanted"/> tokens, at least <paramref name="least"/>; a refusal says when the day resets.</summary>
    public async Task<(Taken? Taken, RateLimitDecision Decision)> TakeAsync(string keyId, int limit, long wanted, long least)
    {
        var now = time.GetUtcNow();
        var reset = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero).AddDays(1);
        var counter = $"freeside:developers:tokens:{keyId}:{now.UtcDateTime:yyyyMMdd}";
        long taken;
        long used;
        if (redis.TryGetDatabase(out var db))
        {
            try
            {
                var values = (RedisResult[])(await db.ScriptEvaluateAsync(TakeScript, [counter],
                    [limit, wanted, least, (long)(reset - now).TotalSeconds + 3600]))!;
                (taken, used) = ((long)values[0], (long)values[1]);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                (taken, used) = TakeInMemory(counter, limit, wanted, least);
            }
        }
        else
        {
            (taken, used) = TakeInMemory(counter, limit, wanted, least);
        }

        var policy = new RateLimitPolicy("api-key-tokens-per-day", RateLimitAlgorithm.SlidingWindow, limit, TimeSpan.FromDays(1));
        var remaining = (int)Math.Clamp(limit - used, 0, int.MaxValue);
        return taken > 0
            ? (new Taken(taken, counter), new RateLimitDecision(policy, true, remaining, reset, TimeSpan.Zero, false))
            : (null, new RateLimitDecision(policy, false, remaining, reset, reset - now, false));
    }

    /// <summary>Gives back what a call took but did not use (all of it when the call never reached finn).</summary>
    public async Task SettleAsync(Taken taken, long used)
    {
        var back = taken.Tokens - Math.Min(used, taken.Tokens);
        if (back <= 0)
        {
            return;
        }

        if (redis.TryGetDatabase(out var db))
        {
            try
            {
                await db.StringDecrementAsync(taken.CounterKey, back);
                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // Counted in memory below; the day's Redis counter keeps the larger figure (never under-counts).
            }
        }

        _memory.AddOrUpdate(taken.CounterKey, 0, (_, value) => Math.Max(0, value - back));
    }

    private (long Taken, long Used) TakeInMemory(string counter, int limit, long wanted, long least)
    {
        lock (_memory)
        {
            var used = _memory.GetValueOrDefault(counter);
            var left = limit - used;
            if (left < least)
            {
                return (0, used);
            }

            var take = Math.Min(wanted, left);
            _memory[counter] = used + take;
            return (take, used + take);
        }
    }
}
