using System.Text.Json;
using System.Threading.Channels;
using Freeside.Features.Discord.Client;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Discord;

/// <summary>
/// The bot's gateway session (when DISCORD_BOT_TOKEN is set): each MESSAGE_CREATE becomes a
/// <see cref="ThreadMessage.Command"/> sent through the pipeline in its own scope. Events are handed
/// to workers so a long chat never holds up the socket (and its heartbeat ACKs).
/// </summary>
public sealed partial class DiscordGateway(DiscordSettings settings, IServiceScopeFactory scopes, ILogger<DiscordGateway> logger) : BackgroundService
{
    public const int Workers = 8;
    private readonly Channel<ThreadMessage.Command> _events = Channel.CreateBounded<ThreadMessage.Command>(10_000);

    public GatewayClient? Client { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (settings.BotToken is not { } token || !settings.GatewayEnabled)
        {
            return;
        }

        Client = new GatewayClient(settings.GatewayUrl, token, GatewayIntents.Default, OnDispatchAsync, e =>
        {
            LogGatewayError(logger, e);
            return Task.CompletedTask;
        });
        var workers = Enumerable.Range(0, Workers).Select(_ => RunWorkerAsync(stoppingToken)).ToList();
        await Client.RunAsync(stoppingToken);
        _events.Writer.TryComplete();
        await Task.WhenAll(workers);
    }

    private async Task OnDispatchAsync(GatewayDispatch dispatch, CancellationToken cancellationToken)
    {
        if (dispatch.Name != "MESSAGE_CREATE" || ToCommand(dispatch.Data) is not { } command)
        {
            return;
        }

        await _events.Writer.WriteAsync(command, cancellationToken);
    }

    public static ThreadMessage.Command? ToCommand(JsonElement data)
    {
        var message = data.Deserialize<DiscordMessage>(DiscordJson.Options);
        if (message?.Author is not { } author || message.Content is null)
        {
            return null;
        }

        return new ThreadMessage.Command(message.GuildId, message.ChannelId, message.Id, author.Id, author.Bot == true, message.Content);
    }

    private async Task RunWorkerAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var command in _events.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    await using var scope = scopes.CreateAsyncScope();
                    await scope.ServiceProvider.GetRequiredService<IMediator>().Send(command, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // One failing message must not stop the others; the pipeline recorded it.
                    LogMessageFailed(logger, command.MessageId, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The Discord gateway connection failed; reconnecting")]
    private static partial void LogGatewayError(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling Discord message {MessageId} failed")]
    private static partial void LogMessageFailed(ILogger logger, string messageId, Exception exception);
}
