using System.Threading.Channels;
using Freeside.Features.Common.Errors;
using Freeside.Features.Discord.Client;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Discord;

/// <summary>Who asked, where, and how to answer: what every slash-command request carries.</summary>
public sealed record InteractionContext(string InteractionId, string ApplicationId, string Token, string? GuildId, string? ChannelId,
    string UserId, string? UserName, long AppPermissions);

/// <summary>What a slash command answers, shown to the invoking user only.</summary>
public sealed record DiscordReply(string Content);

/// <summary>A slash command as a request: it goes through the same pipeline (metrics, validation, transaction) as HTTP.</summary>
public interface IDiscordCommand : IRequest<Result<DiscordReply>>
{
    InteractionContext Context { get; }
}

/// <summary>
/// Turns deferred interactions into requests, off the HTTP request so the 3-second answer never waits
/// for them, and edits the deferred answer with the outcome through the write queue. Each command
/// runs in its own DI scope, as an HTTP request would.
/// </summary>
public sealed partial class InteractionDispatcher(IServiceScopeFactory scopes, DiscordSettings settings, TimeProvider time, ILogger<InteractionDispatcher> logger)
    : BackgroundService
{
    public const int Workers = 4;
    private readonly Channel<Interaction> _pending = Channel.CreateBounded<Interaction>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.Wait });

    /// <summary>Slash command names and how each becomes a request (null: the option is missing or malformed).</summary>
    public static readonly IReadOnlyDictionary<string, Func<InteractionContext, Interaction, IDiscordCommand?>> Commands =
        new Dictionary<string, Func<InteractionContext, Interaction, IDiscordCommand?>>(StringComparer.Ordinal)
        {
            ["verify"] = (context, _) => new Verify.Command(context),
            ["my-agent"] = (context, i) => i.Option("token_id") is { } id ? new MyAgent.Command(context, id) : null,
            ["buy-credits"] = (context, i) => i.Option("amount") is { } amount ? new BuyCredits.Command(context, amount) : null,
            ["agent-info"] = (context, i) => i.Option("token_id") is { } id ? new AgentInfo.Command(context, id) : null,
        };

    public bool TryEnqueue(Interaction interaction) => _pending.Writer.TryWrite(interaction);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => RunAsync(stoppingToken)));

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var interaction in _pending.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    await HandleAsync(interaction, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // One command failing must not stop the others; the user saw "thinking…" and the pipeline recorded the failure.
                    LogCommandFailed(logger, interaction.Data?.Name ?? "?", e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    internal async Task HandleAsync(Interaction interaction, CancellationToken cancellationToken)
    {
        var user = interaction.Invoker!;
        var context = new InteractionContext(interaction.Id, interaction.ApplicationId ?? settings.ApplicationId!, interaction.Token!, interaction.GuildId,
            interaction.ChannelId, user.Id, user.GlobalName ?? user.Username,
            long.TryParse(interaction.AppPermissions, out var permissions) ? permissions : 0);
        await using var scope = scopes.CreateAsyncScope();
        var mediator = scope.ServiceProvider.GetRequiredService<IMediator>();
        string content;
        if (!Commands.TryGetValue(interaction.Data!.Name!, out var factory))
        {
            content = $"Freeside does not know /{interaction.Data.Name}.";
        }
        else if (factory(context, interaction) is not { } command)
        {
            content = $"/{interaction.Data.Name} is missing an option; see the command's help.";
        }
        else
        {
            var result = await mediator.Send(command, cancellationToken);
            content = result.IsSuccess ? result.Value.Content
                : result.Error is ValidationFailed invalid ? string.Join(" ", invalid.Errors.SelectMany(e => e.Value))
                : result.Error!.Detail;
        }

        var queued = await mediator.Send(new QueueWrites.Command([FollowUp(context, content, time.GetUtcNow())]), cancellationToken);
        if (!queued.IsSuccess)
        {
            LogFollowUpNotQueued(logger, interaction.Data.Name ?? "?", queued.Error!.Type);
        }
    }

    /// <summary>Replaces the deferred "thinking…" answer (the interaction webhook; valid for 15 minutes).</summary>
    public static DiscordWrite FollowUp(InteractionContext context, string content, DateTimeOffset now) =>
        DiscordWrite.Create("interaction", HttpMethod.Patch, $"webhooks/{context.ApplicationId}/{context.Token}/messages/@original",
            new MessagePayload(Messages.Clip(content)), now, "interaction:" + context.InteractionId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Discord command /{Command} failed")]
    private static partial void LogCommandFailed(ILogger logger, string command, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "The answer to /{Command} could not be queued: {Error}")]
    private static partial void LogFollowUpNotQueued(ILogger logger, string command, string error);
}

/// <summary>Discord's message limits.</summary>
public static class Messages
{
    public const int MaxLength = 2000;

    public static string Clip(string content) => content.Length <= MaxLength ? content : content[..(MaxLength - 1)] + "…";

    /// <summary>Splits a long text into messages of at most <see cref="MaxLength"/> characters, at a line or word break when there is one.</summary>
    public static IReadOnlyList<string> Split(string text)
    {
        var parts = new List<string>();
        var rest = text;
        while (rest.Length > MaxLength)
        {
            var cut = rest.LastIndexOf('\n', MaxLength - 1);
            if (cut < MaxLength / 2)
            {
                cut = rest.LastIndexOf(' ', MaxLength - 1);
            }

            if (cut < MaxLength / 2)
            {
                cut = MaxLength;
            }
            else
            {
                cut++;
            }

            parts.Add(rest[..cut]);
            rest = rest[cut..];
        }

        if (rest.Length > 0 || parts.Count == 0)
        {
            parts.Add(rest);
        }

        return parts;
    }
}
