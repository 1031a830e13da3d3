using System.Text.Json;
using System.Threading.Channels;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Telegram.Bot;
using Telegram.Bot.Exceptions;
using Telegram.Bot.Types;

namespace Freeside.Features.Telegram;

/// <summary>
/// Updates accepted (first delivery of their id) and waiting for <see cref="HandleUpdate"/>, in order
/// per chat: a chat's next update is handed out only after its previous one is <see cref="Complete"/>d,
/// so a reply never overtakes the reply to an earlier message of the same chat, while other chats go on.
/// </summary>
public sealed class TelegramUpdateQueue
{
    private readonly Channel<Update> _ready = Channel.CreateUnbounded<Update>(new UnboundedChannelOptions { SingleReader = false });
    private readonly Dictionary<long, Queue<Update>> _busy = [];

    public void Enqueue(Update update)
    {
        lock (_busy)
        {
            var chat = ChatOf(update);
            if (_busy.TryGetValue(chat, out var waiting))
            {
                waiting.Enqueue(update);
                return;
            }

            _busy[chat] = new Queue<Update>();
        }

        _ready.Writer.TryWrite(update);
    }

    /// <summary>The update handed out is done (answered, refused or failed): its chat's next update, if any, becomes ready.</summary>
    public void Complete(Update update)
    {
        Update? next;
        lock (_busy)
        {
            var chat = ChatOf(update);
            if (!_busy.TryGetValue(chat, out var waiting))
            {
                return;
            }

            if (!waiting.TryDequeue(out next))
            {
                _busy.Remove(chat);
                return;
            }
        }

        _ready.Writer.TryWrite(next);
    }

    public ChannelReader<Update> Reader => _ready.Reader;

    /// <summary>The chat an update belongs to (a callback's message's chat, else the presser's private chat); 0 for kinds without one.</summary>
    public static long ChatOf(Update update) =>
        update.Message?.Chat.Id ?? update.CallbackQuery?.Message?.Chat.Id ?? update.CallbackQuery?.From.Id ?? 0;
}

/// <summary>
/// Sends each queued update through the pipeline as <see cref="HandleUpdate.Command"/>, a few chats at a
/// time so one long streamed reply does not hold up everyone else's /balance (one chat's updates in order).
/// </summary>
internal sealed partial class TelegramUpdateWorker(TelegramUpdateQueue queue, IServiceScopeFactory scopes, ILogger<TelegramUpdateWorker> logger) : BackgroundService
{
    public const int Concurrency = 4;

    /// <summary>How often this process looks for updates a dead process accepted and never finished.</summary>
    public static readonly TimeSpan RecoveryInterval = TimeSpan.FromMinutes(1);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => ConsumeAsync(stoppingToken)).Append(RecoverAsync(stoppingToken)));

    private async Task RecoverAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await using var scope = scopes.CreateAsyncScope();
                    var stranded = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new ClaimStrandedUpdates.Command(), stoppingToken);
                    foreach (var update in stranded.IsSuccess ? stranded.Value : [])
                    {
                        LogRecovered(logger, update.Id);
                        queue.Enqueue(update);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    LogUpdateFailed(logger, 0, "recovery", e);
                }

                await Task.Delay(RecoveryInterval, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task ConsumeAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var update in queue.Reader.ReadAllAsync(stoppingToken))
            {
                await using var scope = scopes.CreateAsyncScope();
                var mediator = scope.ServiceProvider.GetRequiredService<IMediator>();
                try
                {
                    var handled = await mediator.Send(new HandleUpdate.Command(update), stoppingToken);
                    if (!handled.IsSuccess)
                    {
                        LogUpdateFailed(logger, update.Id, handled.Error!.Type, null);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // One update's bug must not stop the bot; the pipeline's metrics already counted it.
                    LogUpdateFailed(logger, update.Id, "exception", e);
                }

                // Answered, refused or failed, it is done. Only a shutdown or a crash before this line leaves it
                // unhandled, for recovery after ClaimStrandedUpdates.RecoverAfter.
                try
                {
                    await mediator.Send(new MarkUpdateHandled.Command(update.Id), stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    LogUpdateFailed(logger, update.Id, "mark-handled", e);
                }
                finally
                {
                    queue.Complete(update);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 9506, Level = LogLevel.Warning, Message = "Telegram update {UpdateId} was accepted by a process that did not finish it; handling it here")]
    private static partial void LogRecovered(ILogger logger, long updateId);

    [LoggerMessage(EventId = 9502, Level = LogLevel.Error, Message = "Telegram update {UpdateId} was not handled ({Error})")]
    private static partial void LogUpdateFailed(ILogger logger, long updateId, string error, Exception? exception);
}

/// <summary>
/// At start-up: with TELEGRAM_WEBHOOK_URL, registers the webhook (setWebhook with the secret token);
/// with TELEGRAM_POLLING=true, removes any webhook and long-polls getUpdates, sending each update
/// through <see cref="ReceiveUpdate"/> like the webhook does (same replay guard, same queue).
/// </summary>
internal sealed partial class TelegramConnector(TelegramSettings settings, TelegramBot bot, IServiceScopeFactory scopes, ILogger<TelegramConnector> logger)
    : BackgroundService
{
    public const int PollTimeoutSeconds = 25;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (settings.WebhookUrl is { } url)
        {
            await RegisterWebhookAsync(url, stoppingToken);
        }
        else if (settings.Polling)
        {
            await PollAsync(stoppingToken);
        }
    }

    private async Task RegisterWebhookAsync(Uri url, CancellationToken stoppingToken)
    {
        for (var attempt = 1; !stoppingToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await bot.SetWebhookAsync(url, settings.WebhookSecret!, stoppingToken);
                LogWebhookSet(logger, url.GetLeftPart(UriPartial.Path));
                return;
            }
            catch (Exception e) when (e is ApiRequestException or RequestException or HttpRequestException)
            {
                LogWebhookFailed(logger, attempt, e);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(60, 2 * attempt)), stoppingToken);
            }
        }
    }

    private async Task PollAsync(CancellationToken stoppingToken)
    {
        var offset = 0;
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (offset == 0)
                {
                    await bot.DeleteWebhookAsync(stoppingToken);
                }

                var updates = await bot.GetUpdatesAsync(offset, PollTimeoutSeconds, stoppingToken);
                failures = 0;
                foreach (var update in updates)
                {
                    await using var scope = scopes.CreateAsyncScope();
                    var body = JsonSerializer.SerializeToUtf8Bytes(update, JsonBotAPI.Options);
                    var received = await scope.ServiceProvider.GetRequiredService<IMediator>()
                        .Send(new ReceiveUpdate.Command(body, null, Trusted: true), stoppingToken);
                    if (!received.IsSuccess)
                    {
                        // Not confirmed: getUpdates hands it out again after a pause.
                        LogPollFailed(logger, 1, null);
                        await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                        break;
                    }

                    offset = update.Id + 1;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is ApiRequestException or RequestException or HttpRequestException)
            {
                failures++;
                LogPollFailed(logger, failures, e);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(30, failures)), stoppingToken);
            }
        }
    }

    [LoggerMessage(EventId = 9503, Level = LogLevel.Information, Message = "Telegram webhook registered at {Url}")]
    private static partial void LogWebhookSet(ILogger logger, string url);

    [LoggerMessage(EventId = 9504, Level = LogLevel.Warning, Message = "setWebhook failed (attempt {Attempt}); retrying")]
    private static partial void LogWebhookFailed(ILogger logger, int attempt, Exception exception);

    [LoggerMessage(EventId = 9505, Level = LogLevel.Warning, Message = "getUpdates failed ({Failures} in a row); polling again")]
    private static partial void LogPollFailed(ILogger logger, int failures, Exception? exception);
}
