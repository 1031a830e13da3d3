using Freeside.Features.Common.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Freeside.Features.Developers;

/// <summary>
/// Carries "this key (or this developer's keys) changed" to every replica over Redis pub/sub, after the
/// change committed, so each drops its cached row at once and reads the new one: a deleted key is refused
/// everywhere within the message's delivery time. Without Redis, or for a replica that missed the message,
/// the cache lifetime (<see cref="ApiKeyVerifier.CacheLifetime"/>) is the bound.
/// </summary>
public sealed partial class ApiKeyChanges(RedisConnection redis, ApiKeyVerifier verifier, ILogger<ApiKeyChanges> logger) : BackgroundService
{
    private const string ChannelName = "freeside:developers:api-key-changed";

    /// <summary>Set when this replica has subscribed (tests wait for it before they race two replicas).</summary>
    public TaskCompletionSource Subscribed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Raised after a message from any replica dropped cached keys (tests observe it instead of timing).</summary>
    public event Action<string>? Applied;

    public Task KeyChangedAsync(string keyId)
    {
        verifier.Forget(keyId);
        return PublishAsync("key:" + keyId);
    }

    public Task DeveloperChangedAsync(Guid developerId)
    {
        verifier.ForgetDeveloper(developerId);
        return PublishAsync("dev:" + developerId.ToString("N"));
    }

    private async Task PublishAsync(string message)
    {
        if (redis.Subscriber is not { } subscriber)
        {
            return;
        }

        try
        {
            await subscriber.PublishAsync(redis.Channel(ChannelName), message);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogPublishFailed(logger, e);
        }
    }

    private void Apply(string message)
    {
        if (message.StartsWith("key:", StringComparison.Ordinal) && ApiKeyFormat.IsId(message.AsSpan(4)))
        {
            verifier.Forget(message[4..]);
        }
        else if (message.StartsWith("dev:", StringComparison.Ordinal) && Guid.TryParseExact(message[4..], "N", out var developer))
        {
            verifier.ForgetDeveloper(developer);
        }
        else
        {
            return;
        }

        Applied?.Invoke(message);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!redis.IsConfigured)
        {
            return;
        }

        await redis.ConnectAsync();
        while (!stoppingToken.IsCancellationRequested)
        {
            if (redis.Subscriber is { } subscriber)
            {
                try
                {
                    await subscriber.SubscribeAsync(redis.Channel(ChannelName), (_, message) =>
                    {
                        if (message.HasValue)
                        {
                            Apply((string)message!);
                        }
                    });
                    Subscribed.TrySetResult();
                    return;
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    LogPublishFailed(logger, e);
                }
            }

            await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            await redis.ConnectAsync();
        }
    }

    [LoggerMessage(EventId = 11001, Level = LogLevel.Warning,
        Message = "Redis failed carrying an API key change to the other replicas; they drop the key within the cache lifetime")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception);
}
