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

    public async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            connection.Dispose();
        }

        await _services.DisposeAsync();
    }
}
