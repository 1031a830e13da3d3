using System.Text.RegularExpressions;
using Freeside.Features.Common.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Freeside.Features.Identity.Keys;

/// <summary>
/// Carries a revocation to the other replicas over Redis pub/sub, so they drop the key at once
/// instead of at their next reload. Best effort: without Redis, or for a replica that missed the
/// message, the reload from PostgreSQL (every <see cref="SigningKeyRing.RefreshInterval"/>) is the bound.
/// </summary>
public sealed partial class SigningKeyRevocationFanout(RedisConnection redis, SigningKeyRing ring, ILogger<SigningKeyRevocationFanout> logger)
    : BackgroundService
{
    private const string ChannelName = "freeside:identity:signing-key-revoked";

    public async Task PublishAsync(string kid)
    {
        if (redis.Subscriber is not { } subscriber)
        {
            return;
        }

        try
        {
            await subscriber.PublishAsync(redis.Channel(ChannelName), kid);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogPublishFailed(logger, e);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!redis.IsConfigured)
        {
            return;
        }

        // The multiplexer resubscribes by itself after a reconnect; this only waits for the first connection.
        while (!stoppingToken.IsCancellationRequested)
        {
            if (redis.Subscriber is { } subscriber)
            {
                try
                {
                    await subscriber.SubscribeAsync(redis.Channel(ChannelName), (_, message) =>
                    {
                        if (message.HasValue && KidPattern().IsMatch((string)message!))
                        {
                            ring.Revoke((string)message!);
                        }
                    });
                    return;
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    LogPublishFailed(logger, e);
                }
            }

            await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{43}$", RegexOptions.CultureInvariant)]
    private static partial Regex KidPattern();

    [LoggerMessage(EventId = 4104, Level = LogLevel.Warning,
        Message = "Redis failed carrying a signing-key revocation to the other replicas; they drop the key at their next reload")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception);
}
