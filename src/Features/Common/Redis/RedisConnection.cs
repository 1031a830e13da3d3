using System.Diagnostics;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using StackExchange.Redis.KeyspaceIsolation;

namespace Freeside.Features.Common.Redis;

/// <summary>
/// The shared Redis connection. Freeside runs without Redis by design: Redis only holds caches,
/// rate-limit counters and replay guards, all of which have a slower but correct fallback
/// (in-memory or PostgreSQL). So a missing or failed Redis degrades the service instead of stopping
/// it; callers ask <see cref="TryGetDatabase"/> and take their fallback path when it says no.
/// </summary>
public sealed partial class RedisConnection : IDisposable
{
    private readonly ConfigurationOptions? _options;
    private readonly ILogger<RedisConnection> _logger;
    private readonly string? _prefix;
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private ConnectionMultiplexer? _multiplexer;
    private DateTimeOffset _nextAttempt = DateTimeOffset.MinValue;

    public RedisConnection(RedisSettings settings, ILogger<RedisConnection> logger)
    {
        _logger = logger;
        _prefix = settings.KeyPrefix;
        if (settings.Configuration is { } configuration)
        {
            _options = ConfigurationOptions.Parse(configuration);
            _options.AbortOnConnectFail = false;
            _options.ConnectTimeout = 2000;
            _options.SyncTimeout = 2000;
            _options.ClientName = "freeside";
        }
    }

    public bool IsConfigured => _options is not null;

    /// <summary>A database when Redis is connected now; otherwise false and the caller degrades.</summary>
    public bool TryGetDatabase(out IDatabase database)
    {
        var multiplexer = _multiplexer;
        if (multiplexer is { IsConnected: true })
        {
            database = _prefix is null ? multiplexer.GetDatabase() : multiplexer.GetDatabase().WithKeyPrefix(_prefix);
            return true;
        }

        if (multiplexer is null)
        {
            _ = ConnectAsync();
        }

        database = null!;
        return false;
    }

    /// <summary>A pub/sub channel of this deployment (named under the key prefix, like the keys).</summary>
    public RedisChannel Channel(string name) => new((_prefix ?? "") + name, RedisChannel.PatternMode.Literal);

    public ISubscriber? Subscriber => _multiplexer is { IsConnected: true } m ? m.GetSubscriber() : null;

    public async Task<RedisProbe> PingAsync()
    {
        if (_options is null)
        {
            return new RedisProbe("not_configured", null);
        }

        await ConnectAsync();
        if (!TryGetDatabase(out var database))
        {
            return new RedisProbe("down", null);
        }

        try
        {
            var started = Stopwatch.GetTimestamp();
            await database.PingAsync();
            return new RedisProbe("ok", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (RedisException)
        {
            return new RedisProbe("down", null);
        }
        catch (TimeoutException)
        {
            return new RedisProbe("down", null);
        }
    }

    public async Task ConnectAsync()
    {
        if (_options is null || _multiplexer is not null || DateTimeOffset.UtcNow < _nextAttempt)
        {
            return;
        }

        await _connectGate.WaitAsync();
        try
        {
            if (_multiplexer is not null || DateTimeOffset.UtcNow < _nextAttempt)
            {
                return;
            }

            // AbortOnConnectFail=false: the multiplexer keeps reconnecting in the background.
            _multiplexer = await ConnectionMultiplexer.ConnectAsync(_options);
            if (!_multiplexer.IsConnected)
            {
                LogUnavailable(_logger);
            }
        }
        catch (RedisConnectionException)
        {
            _nextAttempt = DateTimeOffset.UtcNow.AddSeconds(5);
            LogUnavailable(_logger);
        }
        finally
        {
            _connectGate.Release();
        }
    }

    public void Dispose()
    {
        _multiplexer?.Dispose();
        _connectGate.Dispose();
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Redis is unavailable; running degraded on in-memory and PostgreSQL fallbacks")]
    private static partial void LogUnavailable(ILogger logger);
}

public sealed record RedisProbe(string Status, double? LatencyMs);

/// <param name="KeyPrefix">Put before every key (and channel name); null for none.</param>
public sealed record RedisSettings(string? Configuration, string? KeyPrefix = null);
