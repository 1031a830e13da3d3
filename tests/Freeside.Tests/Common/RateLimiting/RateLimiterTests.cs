using System.Diagnostics.Metrics;
using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Common.Redis;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Freeside.Tests.Common.RateLimiting;

/// <summary>The limiter itself, against the real Redis, and with Redis down.</summary>
public sealed class RateLimiterTests : IAsyncDisposable
{
    private static readonly RateLimitPolicy Window = new("test-window", RateLimitAlgorithm.SlidingWindow, 25, TimeSpan.FromMinutes(5));
    private static readonly RateLimitPolicy Bucket = new("test-bucket", RateLimitAlgorithm.TokenBucket, 1, TimeSpan.FromHours(1), Burst: 25);

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly List<RedisConnection> _connections = [];

    private async Task<RateLimiter> LimiterAsync(string? redisUrl, ILogger<RateLimiter>? logger = null)
    {
        var errors = new List<string>();
        var configuration = redisUrl is null ? null : Freeside.Features.Common.Configuration.FreesideSettings.ParseRedis(redisUrl, errors);
        var redis = new RedisConnection(new RedisSettings(configuration), NullLogger<RedisConnection>.Instance);
        _connections.Add(redis);
        await redis.ConnectAsync();
        return new RateLimiter(redis, RateLimitSettings.Default, TimeProvider.System, _services.GetRequiredService<IMeterFactory>(),
            logger ?? NullLogger<RateLimiter>.Instance);
    }

    private static string UniqueKey() => "test-" + Guid.NewGuid().ToString("N");

    [Theory]
    [InlineData(RateLimitAlgorithm.SlidingWindow)]
    [InlineData(RateLimitAlgorithm.TokenBucket)]
    public async Task AcquireAsync_ConcurrentRequestsRaceTheLimit_AdmitsExactlyTheLimit(RateLimitAlgorithm algorithm)
    {
        var limiter = await LimiterAsync(TestEnvironment.RedisUrl);
        var policy = algorithm == RateLimitAlgorithm.SlidingWindow ? Window : Bucket;
        var key = UniqueKey();

        // 300 requests from 300 tasks on one multiplexer: a read-then-write limiter admits more than 25.
        using var start = new ManualResetEventSlim();
        var racers = Enumerable.Range(0, 300).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            return await limiter.AcquireAsync(policy, key, 1, CancellationToken.None);
        })).ToList();
        start.Set();
        var decisions = await Task.WhenAll(racers);

        decisions.Count(d => d.Allowed).ShouldBe(25);
        decisions.ShouldAllBe(d => !d.Fallback);
        decisions.Where(d => !d.Allowed).ShouldAllBe(d => d.Remaining == 0 && d.RetryAfter > TimeSpan.Zero);
    }

    [Fact]
    public async Task AcquireAsync_SlidingWindowUsedUp_RetryAfterAndResetWithinTheWindow()
    {
        var limiter = await LimiterAsync(TestEnvironment.RedisUrl);
        var key = UniqueKey();
        for (var i = 0; i < 25; i++)
        {
            (await limiter.AcquireAsync(Window, key, 1, CancellationToken.None)).Remaining.ShouldBe(24 - i);
        }

        var refused = await limiter.AcquireAsync(Window, key, 1, CancellationToken.None);

        refused.Allowed.ShouldBeFalse();
        refused.Limit.ShouldBe(25);
        refused.RetryAfter.ShouldBeGreaterThan(TimeSpan.Zero);
        refused.RetryAfter.ShouldBeLessThanOrEqualTo(TimeSpan.FromMinutes(5));
        refused.RetryAfterSeconds.ShouldBeInRange(1, 300);
        refused.ResetAt.ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddMinutes(4));
        (await limiter.AcquireAsync(Window, UniqueKey(), 1, CancellationToken.None)).Allowed.ShouldBeTrue("another key has its own count");
    }

    [Theory]
    [InlineData(RateLimitAlgorithm.SlidingWindow)]
    [InlineData(RateLimitAlgorithm.TokenBucket)]
    public async Task AcquireAsync_RedisDown_StillLimitsInMemoryCountsAndLogs(RateLimitAlgorithm algorithm)
    {
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        var limiter = await LimiterAsync("redis://127.0.0.1:1", loggerFactory.CreateLogger<RateLimiter>());
        var fallbacks = 0L;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "freeside.rate_limit.fallbacks")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref fallbacks, value));
        listener.Start();
        var policy = algorithm == RateLimitAlgorithm.SlidingWindow ? Window : Bucket;
        var key = UniqueKey();

        var decisions = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => limiter.AcquireAsync(policy, key, 1, CancellationToken.None)));

        decisions.Count(d => d.Allowed).ShouldBe(25);
        decisions.ShouldAllBe(d => d.Fallback);
        Interlocked.Read(ref fallbacks).ShouldBe(100);
        logs.Entries.Count(e => e.Level == LogLevel.Warning && e.Message.Contains("fall back to this process's memory", StringComparison.Ordinal))
            .ShouldBe(1, "logged once when falling back, not once per request");
    }

    /// <summary>
    /// Several limits in one step: when one refuses, nothing is taken from any of them (taken one by one, the limits
    /// before the refusing one would each lose a unit), and the refusal names the limit and when to retry.
    /// </summary>
    [Fact]
    public async Task AcquireAllAsync_OneLimitRefuses_NothingIsTakenFromTheOthers()
    {
        var limiter = await LimiterAsync(TestEnvironment.RedisUrl);
        var roomy = new RateLimitPolicy("test-all-roomy", RateLimitAlgorithm.TokenBucket, 1, TimeSpan.FromHours(1), Burst: 10);
        var window = new RateLimitPolicy("test-all-window", RateLimitAlgorithm.SlidingWindow, 10, TimeSpan.FromMinutes(5));
        var tight = new RateLimitPolicy("test-all-tight", RateLimitAlgorithm.SlidingWindow, 2, TimeSpan.FromMinutes(5));
        var (a, b, c) = (UniqueKey(), UniqueKey(), UniqueKey());
        (RateLimitPolicy, string)[] limits = [(roomy, a), (window, b), (tight, c)];

        (await limiter.AcquireAllAsync(limits, CancellationToken.None)).Refused.ShouldBe(-1);
        (await limiter.AcquireAllAsync(limits, CancellationToken.None)).Refused.ShouldBe(-1);
        for (var i = 0; i < 5; i++)
        {
            var (refused, decision) = await limiter.AcquireAllAsync(limits, CancellationToken.None);
            refused.ShouldBe(2);
            decision!.Policy.ShouldBe(tight);
            decision.Allowed.ShouldBeFalse();
            decision.RetryAfter.ShouldBeGreaterThan(TimeSpan.Zero);
        }

        // Two taken from each, none by the five refusals: 8 and 8 left, as single acquisitions show.
        (await limiter.AcquireAsync(roomy, a, 1, CancellationToken.None)).Remaining.ShouldBe(7);
        (await limiter.AcquireAsync(window, b, 1, CancellationToken.None)).Remaining.ShouldBe(7);
        (await limiter.AcquireAsync(tight, c, 1, CancellationToken.None)).Allowed.ShouldBeFalse();
    }

    [Fact]
    public async Task AcquireAllAsync_ConcurrentRequestsRaceTheTightestLimit_AdmitsExactlyItAndTakesNoMoreFromTheOthers()
    {
        var limiter = await LimiterAsync(TestEnvironment.RedisUrl);
        var roomy = new RateLimitPolicy("test-all-race-roomy", RateLimitAlgorithm.TokenBucket, 1, TimeSpan.FromHours(1), Burst: 100);
        var tight = new RateLimitPolicy("test-all-race-tight", RateLimitAlgorithm.SlidingWindow, 25, TimeSpan.FromMinutes(5));
        var (a, b) = (UniqueKey(), UniqueKey());

        using var start = new ManualResetEventSlim();
        var racers = Enumerable.Range(0, 200).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            return await limiter.AcquireAllAsync([(roomy, a), (tight, b)], CancellationToken.None);
        })).ToList();
        start.Set();
        var outcomes = await Task.WhenAll(racers);

        outcomes.Count(o => o.Refused < 0).ShouldBe(25);
        outcomes.Where(o => o.Refused >= 0).ShouldAllBe(o => o.Refused == 1);
        (await limiter.AcquireAsync(roomy, a, 1, CancellationToken.None)).Remaining.ShouldBe(100 - 25 - 1);
    }

    [Fact]
    public async Task AcquireAllAsync_RedisDown_LimitsInMemoryOneAfterAnother()
    {
        var limiter = await LimiterAsync("redis://127.0.0.1:1");
        var key = UniqueKey();

        var outcomes = new List<int>();
        for (var i = 0; i < 30; i++)
        {
            outcomes.Add((await limiter.AcquireAllAsync([(Bucket, key), (Window, key)], CancellationToken.None)).Refused);
        }

        outcomes.Count(r => r < 0).ShouldBe(25);
        outcomes.Skip(25).ShouldAllBe(r => r == 0, "the bucket (first) is used up first");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            connection.Dispose();
        }

        await _services.DisposeAsync();
    }
}
