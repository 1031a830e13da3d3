using System.Collections.Concurrent;

namespace Freeside.Features.Common.RateLimiting;

/// <summary>The same two algorithms as the Redis scripts, in this process's memory, for when Redis is away.</summary>
internal sealed class InMemoryRateLimitStore(TimeProvider time)
{
    private const int SweepAbove = 50_000;
    private readonly ConcurrentDictionary<string, State> _states = new(StringComparer.Ordinal);

    public RateLimitDecision Acquire(RateLimitPolicy policy, string key, int cost)
    {
        var now = time.GetUtcNow();
        if (_states.Count > SweepAbove)
        {
            Sweep(now);
        }

        var state = _states.GetOrAdd(key, _ => new State());
        lock (state)
        {
            return policy.Algorithm == RateLimitAlgorithm.SlidingWindow
                ? SlidingWindow(state, policy, cost, now)
                : TokenBucket(state, policy, cost, now);
        }
    }

    private static RateLimitDecision SlidingWindow(State state, RateLimitPolicy policy, int cost, DateTimeOffset now)
    {
        var log = state.Log;
        while (log.Count > 0 && log.Peek() <= now - policy.Window)
        {
            log.Dequeue();
        }

        var allowed = log.Count + cost <= policy.Limit;
        if (allowed)
        {
            for (var i = 0; i < cost; i++)
            {
                log.Enqueue(now);
            }
        }

        var retry = TimeSpan.Zero;
        if (!allowed)
        {
            var needed = log.Count + cost - policy.Limit;
            retry = log.ElementAt(needed - 1) + policy.Window - now;
        }

        state.ExpiresAt = log.Count > 0 ? log.Last() + policy.Window : now;
        return new RateLimitDecision(policy, allowed, policy.Limit - log.Count, state.ExpiresAt, retry, Fallback: true);
    }

    private static RateLimitDecision TokenBucket(State state, RateLimitPolicy policy, int cost, DateTimeOffset now)
    {
        var perTick = (double)policy.Limit / policy.Window.Ticks;
        if (state.Stamp == default)
        {
            state.Tokens = policy.Burst;
            state.Stamp = now;
        }

        state.Tokens = Math.Min(policy.Burst, state.Tokens + (Math.Max(0, (now - state.Stamp).Ticks) * perTick));
        if (now > state.Stamp)
        {
            state.Stamp = now;
        }

        var allowed = state.Tokens >= cost;
        if (allowed)
        {
            state.Tokens -= cost;
        }

        var retry = allowed ? TimeSpan.Zero : TimeSpan.FromTicks((long)Math.Ceiling((cost - state.Tokens) / perTick));
        state.ExpiresAt = now + TimeSpan.FromTicks((long)Math.Ceiling((policy.Burst - state.Tokens) / perTick));
        return new RateLimitDecision(policy, allowed, (int)Math.Floor(state.Tokens), state.ExpiresAt, retry, Fallback: true);
    }

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (key, state) in _states)
        {
            if (state.ExpiresAt < now)
            {
                _states.TryRemove(key, out _);
            }
        }
    }

    private sealed class State
    {
        public Queue<DateTimeOffset> Log { get; } = new();

        public double Tokens { get; set; }

        public DateTimeOffset Stamp { get; set; }

        public DateTimeOffset ExpiresAt { get; set; }
    }
}
