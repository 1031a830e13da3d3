using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Common.Redis;
using Freeside.Features.Discord.Client;
using StackExchange.Redis;

namespace Freeside.Features.Discord;

/// <summary>
/// Discord's limits, shared by every replica through Redis: the global limit (one unit per request on
/// the wire, retries included) and each route bucket's state as Discord last reported it. When Redis
/// is away each replica falls back to counting on its own (the rate limiter's memory; the client's buckets).
/// </summary>
public sealed class DiscordLimits(RateLimiter limiter, RedisConnection redis, TimeProvider time) : IRouteBucketStore
{
    private const string KeyPrefix = "freeside:discord:bucket:";

    // KEYS[1] hash {remaining, reset (ms), probe (ms)}. Returns ms to wait (0: taken).
    // A bucket whose window has passed is unknown again: one request at a time (the probe) finds out its new state.
    private const string TakeScript = """
        if redis.replicate_commands then redis.replicate_commands() end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local s = redis.call('HMGET', KEYS[1], 'remaining', 'reset', 'probe')
        local remaining = tonumber(s[1])
        local reset = tonumber(s[2])
        local probe = tonumber(s[3])
        if remaining ~= nil and reset ~= nil and now < reset then
            if remaining > 0 then
                redis.call('HSET', KEYS[1], 'remaining', remaining - 1)
                redis.call('HINCRBY', KEYS[1], 'inflight', 1)
                return 0
            end
            return reset - now
        end
        if probe ~= nil and now < probe then
            return 5
        end
        redis.call('HDEL', KEYS[1], 'remaining', 'reset')
        redis.call('HSET', KEYS[1], 'probe', now + tonumber(ARGV[1]))
        redis.call('HINCRBY', KEYS[1], 'inflight', 1)
        redis.call('PEXPIRE', KEYS[1], 120000)
        return 0
        """;

    // KEYS[1]; ARGV: remaining, reset after (ms); ARGV[3] = 1 when the request got no answer at all.
    // Discord's "remaining" does not yet count the requests other replicas have on the way (taken, not
    // answered: inflight), which may land in the window just reported, so they are subtracted from it;
    // and it never raises what another replica already took.
    private const string ObserveScript = """
        if redis.replicate_commands then redis.replicate_commands() end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local inflight = math.max(0, redis.call('HINCRBY', KEYS[1], 'inflight', -1))
        if inflight == 0 then
            redis.call('HSET', KEYS[1], 'inflight', 0)
        end
        if ARGV[3] == '1' then
            return 0
        end
        local remaining = math.max(0, tonumber(ARGV[1]) - inflight)
        local reset = now + tonumber(ARGV[2])
        local s = redis.call('HMGET', KEYS[1], 'remaining', 'reset')
        local current = tonumber(s[1])
        local currentReset = tonumber(s[2])
        if current ~= nil and currentReset ~= nil and now < currentReset then
            remaining = math.min(current, remaining)
            reset = math.max(currentReset, reset)
        end
        redis.call('HSET', KEYS[1], 'remaining', remaining, 'reset', reset)
        redis.call('HDEL', KEYS[1], 'probe')
        redis.call('PEXPIRE', KEYS[1], math.max(reset - now, 0) + 120000)
        return 0
        """;

    /// <summary>How long a probe may take before another replica may probe instead (a replica that died mid-request).</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(15);

    public async Task TakeGlobalUnitAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var decision = await limiter.AcquireAsync(RateLimitPolicies.DiscordGlobal, "global", cancellationToken);
            if (decision.Allowed)
            {
                return;
            }

            await Task.Delay(decision.RetryAfter > TimeSpan.FromMilliseconds(2) ? decision.RetryAfter : TimeSpan.FromMilliseconds(2), time, cancellationToken);
        }
    }

    public async Task<TimeSpan> TryTakeAsync(string bucket, CancellationToken cancellationToken)
    {
        if (!redis.TryGetDatabase(out var db))
        {
            return TimeSpan.Zero;
        }

        try
        {
            var wait = (long)await db.ScriptEvaluateAsync(TakeScript, [KeyPrefix + bucket], [(long)ProbeTimeout.TotalMilliseconds]);
            return TimeSpan.FromMilliseconds(wait);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return TimeSpan.Zero;
        }
    }

    public async Task AbandonAsync(string bucket, CancellationToken cancellationToken)
    {
        if (!redis.TryGetDatabase(out var db))
        {
            return;
        }

        try
        {
            await db.ScriptEvaluateAsync(ObserveScript, [KeyPrefix + bucket], [0, 0, 1]);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // Counted as on its way until the key expires; that only makes this bucket more careful.
        }
    }

    public async Task ObserveAsync(string bucket, int remaining, TimeSpan resetAfter, CancellationToken cancellationToken)
    {
        if (!redis.TryGetDatabase(out var db))
        {
            return;
        }

        try
        {
            await db.ScriptEvaluateAsync(ObserveScript, [KeyPrefix + bucket], [remaining, (long)Math.Ceiling(resetAfter.TotalMilliseconds), 0]);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // The client's own bucket state still applies in this process.
        }
    }
}
