using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Freeside.Features.Common.Observability;
using Freeside.Features.Common.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Freeside.Features.Common.RateLimiting;

/// <summary>
/// Freeside's one rate limiter. Every replica shares the counts in Redis, where each decision is
/// one Lua script (read, decide and write in a single atomic step, on Redis's clock, so concurrent
/// requests and replicas with skewed clocks cannot both take the last unit). When Redis is not
/// reachable, this process decides from its own memory: still limited, but per replica, so the
/// effective limit is multiplied by the number of replicas until Redis is back. Each such decision
/// is counted (freeside.rate_limit.fallbacks) and the switch both ways is logged.
/// Use it from an endpoint (<see cref="RateLimitEndpoints.RequireRateLimit{TBuilder}"/>) or from a
/// handler (<see cref="AcquireAsync(string, string, CancellationToken)"/> and return <see cref="RateLimited"/>).
/// </summary>
public sealed partial class RateLimiter
{
    private const string KeyPrefix = "freeside:ratelimit:";

    // One or several limits in one step, all or nothing: KEYS[i] is limit i's key; ARGV holds five values per limit:
    // algorithm ('sw': an exact sliding log, a sorted set of request ids scored by time; 'tb': a token bucket, a hash
    // {tokens, ts}), limit or capacity, window ms or refill per ms, cost, unique id. Every limit is read first; only
    // when all allow is each one taken. Returns {refused index (0: none), now ms} followed, per limit, by {allowed,
    // remaining, ms until full, ms until allowed} (when one refused, only the refusing limit's).
    private const string AllOrNothingScript = """
        if redis.replicate_commands then redis.replicate_commands() end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local state = {}
        local refused = 0
        for i = 1, #KEYS do
            local b = (i - 1) * 5
            local cost = tonumber(ARGV[b + 4])
            if ARGV[b + 1] == 'sw' then
                local limit = tonumber(ARGV[b + 2])
                local window = tonumber(ARGV[b + 3])
                redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
                local used = redis.call('ZCARD', KEYS[i])
                state[i] = { used = used, ok = used + cost <= limit }
            else
                local capacity = tonumber(ARGV[b + 2])
                local rate = tonumber(ARGV[b + 3])
                local s = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
                local tokens = tonumber(s[1])
                local ts = tonumber(s[2])
                if tokens == nil or ts == nil then
                    tokens = capacity
                    ts = now
                end
                tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
                if now > ts then
                    ts = now
                end
                state[i] = { tokens = tokens, ts = ts, ok = tokens >= cost }
            end
            if not state[i].ok then
                refused = i
                break
            end
        end
        local out = { refused, now }
        for i = 1, #KEYS do
            if refused == 0 or i == refused then
                local b = (i - 1) * 5
                local cost = tonumber(ARGV[b + 4])
                local take = refused == 0
                if ARGV[b + 1] == 'sw' then
                    local limit = tonumber(ARGV[b + 2])
                    local window = tonumber(ARGV[b + 3])
                    local used = state[i].used
                    if take then
                        for c = 1, cost do
                            redis.call('ZADD', KEYS[i], now, ARGV[b + 5] .. ':' .. c)
                        end
                        used = used + cost
                    end
                    local full = 0
                    local retry = 0
                    if used > 0 then
                        local newest = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
                        full = tonumber(newest[2]) + window - now
                        redis.call('PEXPIRE', KEYS[i], full)
                    end
                    if not take then
                        local needed = used + cost - limit
                        local entry = redis.call('ZRANGE', KEYS[i], needed - 1, needed - 1, 'WITHSCORES')
                        retry = entry[2] and (tonumber(entry[2]) + window - now) or window
                    end
                    table.insert(out, take and 1 or 0)
                    table.insert(out, limit - used)
                    table.insert(out, full)
                    table.insert(out, retry)
                else
                    local capacity = tonumber(ARGV[b + 2])
                    local rate = tonumber(ARGV[b + 3])
                    local tokens = state[i].tokens
                    if take then
                        tokens = tokens - cost
                    end
                    local full = math.ceil((capacity - tokens) / rate)
                    local retry = 0
                    if not take then
                        retry = math.ceil((cost - tokens) / rate)
                    end
                    redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%d', state[i].ts))
                    redis.call('PEXPIRE', KEYS[i], math.max(full, 1000))
                    table.insert(out, take and 1 or 0)
                    table.insert(out, math.floor(tokens))
                    table.insert(out, full)
                    table.insert(out, retry)
                end
            end
        end
        return out
        """;

    private readonly RedisConnection _redis;
    private readonly RateLimitSettings _settings;
    private readonly InMemoryRateLimitStore _memory;
    private readonly ILogger<RateLimiter> _logger;
    private readonly Counter<long> _decisions;
    private readonly Counter<long> _fallbacks;
    private int _degraded;

    public RateLimiter(RedisConnection redis, RateLimitSettings settings, TimeProvider time, IMeterFactory meters, ILogger<RateLimiter> logger)
    {
        _redis = redis;
        _settings = settings;
        _memory = new InMemoryRateLimitStore(time);
        _logger = logger;
        var meter = meters.Create(FreesideMetrics.MeterName);
        _decisions = meter.CreateCounter<long>("freeside.rate_limit.decisions", null, "Rate-limit decisions, by policy and outcome.");
        _fallbacks = meter.CreateCounter<long>("freeside.rate_limit.fallbacks", null,
            "Rate-limit decisions taken in process memory because Redis was not available, by reason.");
    }

    public RateLimitSettings Settings => _settings;

    public Task<RateLimitDecision> AcquireAsync(string policy, string key, CancellationToken cancellationToken) =>
        AcquireAsync(_settings.Policy(policy), key, 1, cancellationToken);

    /// <summary>Takes <paramref name="cost"/> units from <paramref name="key"/>'s allowance, or none when they are not all there.</summary>
    public async Task<RateLimitDecision> AcquireAsync(RateLimitPolicy policy, string key, int cost, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cost, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(cost, policy.Capacity);
        var (_, decisions) = await DecideAsync([(policy, key)], cost, cancellationToken);
        return decisions[0]!;
    }

    /// <summary>
    /// Takes one unit from each of several limits in one atomic step, or from none of them: a request refused by one
    /// limit uses up nothing of the others. Returns the first refusing limit's index and decision, or (-1, null) when all
    /// allowed. One Redis round trip for all of them; without Redis, each is taken in turn from this process's memory
    /// (the first refusal stops, the ones before it stay taken).
    /// </summary>
    public async Task<(int Refused, RateLimitDecision? Decision)> AcquireAllAsync(IReadOnlyList<(RateLimitPolicy Policy, string Key)> limits,
        CancellationToken cancellationToken)
    {
        if (limits.Count == 0)
        {
            return (-1, null);
        }

        var (refused, decisions) = await DecideAsync(limits, 1, cancellationToken);
        return (refused, refused < 0 ? null : decisions[refused]);
    }

    /// <summary>
    /// The one decision path: the script in Redis, or this process's memory when Redis is not there (each limit in
    /// turn, stopping at the first refusal). Every decided limit is counted; the switch to memory and back is logged.
    /// </summary>
    private async Task<(int Refused, RateLimitDecision?[] Decisions)> DecideAsync(IReadOnlyList<(RateLimitPolicy Policy, string Key)> limits, int cost,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var refused = -1;
        var decisions = new RateLimitDecision?[limits.Count];
        Exception? error = null;
        var decided = false;
        if (_redis.TryGetDatabase(out var db))
        {
            try
            {
                (refused, decisions) = await EvaluateAllAsync(db, limits, cost);
                decided = true;
                if (Interlocked.Exchange(ref _degraded, 0) == 1)
                {
                    LogRecovered(_logger);
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                error = e;
            }
        }

        if (!decided)
        {
            var reason = error is not null ? "error" : _redis.IsConfigured ? "unavailable" : "not_configured";
            for (var i = 0; i < limits.Count && refused < 0; i++)
            {
                var (policy, key) = limits[i];
                decisions[i] = Fallback(policy, RedisKey(policy, key), cost, reason, error);
                refused = decisions[i]!.Allowed ? -1 : i;
            }
        }

        for (var i = 0; i < limits.Count && (refused < 0 || i <= refused); i++)
        {
            _decisions.Add(1, new TagList { { "policy", limits[i].Policy.Name }, { "outcome", i == refused ? "limited" : "allowed" } });
        }

        return (refused, decisions);
    }

    /// <summary>The script over the limits: the refusing limit's index (-1 for none) and the decisions it returned.</summary>
    private static async Task<(int Refused, RateLimitDecision?[] Decisions)> EvaluateAllAsync(IDatabase db,
        IReadOnlyList<(RateLimitPolicy Policy, string Key)> limits, int cost)
    {
        var keys = new RedisKey[limits.Count];
        var args = new RedisValue[limits.Count * 5];
        for (var i = 0; i < limits.Count; i++)
        {
            var (policy, key) = limits[i];
            var windowMs = (long)policy.Window.TotalMilliseconds;
            keys[i] = RedisKey(policy, key);
            var sliding = policy.Algorithm == RateLimitAlgorithm.SlidingWindow;
            args[i * 5] = sliding ? "sw" : "tb";
            args[(i * 5) + 1] = sliding ? policy.Limit : policy.Burst;
            args[(i * 5) + 2] = sliding ? windowMs : ((double)policy.Limit / windowMs).ToString("R", CultureInfo.InvariantCulture);
            args[(i * 5) + 3] = cost;
            args[(i * 5) + 4] = Guid.NewGuid().ToString("N");
        }

        var values = (RedisResult[])(await db.ScriptEvaluateAsync(AllOrNothingScript, keys, args))!;
        var refused = (int)(long)values[0] - 1;
        var now = DateTimeOffset.FromUnixTimeMilliseconds((long)values[1]);
        var decisions = new RateLimitDecision?[limits.Count];
        var at = 2;
        for (var i = 0; i < limits.Count; i++)
        {
            if (refused < 0 || i == refused)
            {
                decisions[i] = new RateLimitDecision(limits[i].Policy, (long)values[at] == 1, (int)Math.Max(0, (long)values[at + 1]),
                    now.AddMilliseconds((long)values[at + 2]), TimeSpan.FromMilliseconds((long)values[at + 3]), Fallback: false);
                at += 4;
            }
        }

        return (refused, decisions);
    }

    private RateLimitDecision Fallback(RateLimitPolicy policy, string key, int cost, string reason, Exception? error)
    {
        _fallbacks.Add(1, new TagList { { "policy", policy.Name }, { "reason", reason } });
        if (Interlocked.Exchange(ref _degraded, 1) == 0)
        {
            LogFallingBack(_logger, reason, error);
        }

        return _memory.Acquire(policy, key, cost);
    }

    /// <summary>Keys are client IPs, addresses or ids; long ones are hashed so a key never grows a Redis key without bound.</summary>
    private static string RedisKey(RateLimitPolicy policy, string key)
    {
        var algorithm = policy.Algorithm == RateLimitAlgorithm.SlidingWindow ? "sw" : "tb";
        var safe = key.Length <= 100 ? key : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
        return $"{KeyPrefix}{policy.Name}:{algorithm}:{safe}";
    }

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning,
        Message = "Rate limits fall back to this process's memory ({Reason}): each replica now counts on its own until Redis is back")]
    private static partial void LogFallingBack(ILogger logger, string reason, Exception? exception);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information, Message = "Rate limits are counted in Redis again")]
    private static partial void LogRecovered(ILogger logger);
}
