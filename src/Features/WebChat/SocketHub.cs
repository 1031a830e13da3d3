using System.Collections.Concurrent;
using System.Text.Json;
using Freeside.Features.Common.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Freeside.Features.WebChat;

/// <summary>
/// This replica's open chat sockets. Mirrors every chat event to the wallet's other sockets on the same agent —
/// on any replica, over Redis pub/sub (on this replica alone while Redis is away) — and drains them on shutdown:
/// each gets <c>drain</c>, chats in flight finish within <see cref="WebChatSettings.DrainTimeout"/>, then 1001.
/// </summary>
public sealed partial class SocketHub(RedisConnection redis, WebChatSettings settings, IHostApplicationLifetime lifetime, ILogger<SocketHub> logger)
    : IHostedService
{
    private const string ChannelName = "freeside:webchat:events";

    private readonly ConcurrentDictionary<Guid, ChatSocket> _sockets = new();
    private readonly string _replica = Guid.NewGuid().ToString("N");
    private Task? _drain;
    private CancellationTokenRegistration _stopping;

    public bool Draining { get; private set; }

    public int Count => _sockets.Count;

    public void Add(ChatSocket socket) => _sockets[socket.Id] = socket;

    public void Remove(ChatSocket socket) => _sockets.TryRemove(socket.Id, out _);

    /// <summary>Mirrors one event of <paramref name="from"/>'s chat to the wallet's other sockets on that agent.</summary>
    public async Task MirrorAsync(ChatSocket from, string payload)
    {
        var envelope = JsonSerializer.Serialize(new Envelope(from.Id, from.Audience!, payload));
        if (redis.Subscriber is { } subscriber)
        {
            try
            {
                await subscriber.PublishAsync(redis.Channel(ChannelName), envelope);
                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                LogPublishFailed(logger, e);
            }
        }

        await DeliverAsync(envelope);
    }

    private async Task DeliverAsync(string envelope)
    {
        Envelope? message;
        try
        {
            message = JsonSerializer.Deserialize<Envelope>(envelope);
        }
        catch (JsonException)
        {
            return;
        }

        if (message is null)
        {
            return;
        }

        foreach (var socket in _sockets.Values)
        {
            if (socket.Id != message.From && socket.Audience == message.Audience)
            {
                await socket.SendMirroredAsync(message.Payload);
            }
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = lifetime.ApplicationStopping.Register(() => _drain ??= DrainAsync());
        if (redis.IsConfigured && redis.Subscriber is { } subscriber)
        {
            try
            {
                // Handlers run in order on one queue, so a chat's tokens reach the other tab in order.
                var queue = await subscriber.SubscribeAsync(redis.Channel(ChannelName));
                queue.OnMessage(async message => await DeliverAsync((string)message.Message!));
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                LogPublishFailed(logger, e);
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _drain ??= DrainAsync();
        await _drain.WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        await _stopping.DisposeAsync();
    }

    private async Task DrainAsync()
    {
        Draining = true;
        var sockets = _sockets.Values.ToList();
        LogDraining(logger, sockets.Count);
        using var deadline = new CancellationTokenSource(settings.DrainTimeout);
        await Task.WhenAll(sockets.Select(s => s.DrainAsync(deadline.Token)));
    }

    private sealed record Envelope(Guid From, string Audience, string Payload);

    [LoggerMessage(EventId = 12001, Level = LogLevel.Warning, Message = "Redis failed carrying a web chat event to the other replicas; delivered on this replica only")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 12002, Level = LogLevel.Information, Message = "Draining {Count} web chat sockets before shutdown")]
    private static partial void LogDraining(ILogger logger, int count);
}
