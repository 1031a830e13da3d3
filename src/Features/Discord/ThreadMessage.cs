using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Discord.Client;
using Freeside.Features.Inference;
using Freeside.Features.Linking;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Freeside.Features.Discord;

/// <summary>
/// A message in an agent thread (a gateway MESSAGE_CREATE). Only the holder is answered, and only
/// while their linked wallet still holds the NFT (re-checked per message; ownership is cached 60 s).
/// The reply goes through the shared chat service (source discord, the thread's conversation as
/// context, the community's credits) and streams as throttled edits of a message, split at 2,000
/// characters. A message delivered twice (a gateway replay) is answered, and charged, once: the first
/// delivery queues the reply's placeholder under the message's id, the second finds it there.
/// </summary>
public static class ThreadMessage
{
    public sealed record Command(string? GuildId, string ChannelId, string MessageId, string AuthorId, bool AuthorIsBot, string Content)
        : IRequest<Result<Outcome>>;

    public enum Outcome
    {
        Ignored,
        Duplicate,
        Revoked,
        Refused,
        Answered,
        Failed,
    }

    internal sealed class Handler(FreesideDb db, IMediator mediator, DiscordWriteAwaiter awaiter, TimeProvider time) : IRequestHandler<Command, Result<Outcome>>
    {
        public async Task<Result<Outcome>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (request.AuthorIsBot || string.IsNullOrWhiteSpace(request.Content) || request.GuildId is null)
            {
                return Outcome.Ignored;
            }

            var slug = await db.Set<DiscordGuild>().AsNoTracking().Where(g => g.GuildId == request.GuildId).Select(g => g.CommunitySlug).SingleOrDefaultAsync(cancellationToken);
            if (slug is null || await db.CommunityBySlugAsync(slug, cancellationToken) is not { IsSuccess: true } community)
            {
                return Outcome.Ignored;
            }

            var communityId = community.Value.Id;
            var thread = await db.ReadInCommunityAsync(communityId, ct => db.Set<AgentThread>().AsNoTracking()
                .SingleOrDefaultAsync(t => t.CommunityId == communityId && t.ThreadId == request.ChannelId && t.Status == AgentThreadStatus.Open, ct), cancellationToken);
            if (thread is null || thread.HolderUserId != request.AuthorId)
            {
                return Outcome.Ignored;
            }

            var linked = await mediator.Send(new FindLinkedWallet.Query(LinkPlatform.Discord, request.AuthorId), cancellationToken);
            if (linked is { IsSuccess: true, Value.VerifiedAt: { } verifiedAt } && linked.Value.IsStale(time.GetUtcNow()))
            {
                // Refused, never silent: the thread stays open, so a re-verified link is answered here again.
                var refusal = DiscordWrite.Create("community:" + slug, HttpMethod.Post, $"channels/{request.ChannelId}/messages",
                    new MessagePayload(StaleLink.Explanation(verifiedAt, "write here again")), time.GetUtcNow(), "stale:" + request.MessageId);
                var refused = await mediator.Send(new QueueWrites.Command([refusal]), cancellationToken);
                return refused.IsSuccess || refused.Error is AlreadyExists ? Outcome.Refused : refused.Error!;
            }

            var holds = linked is { IsSuccess: true, Value.Wallet: { } wallet }
                ? await mediator.Send(new CheckHolder.Query(slug, thread.TokenId, wallet), cancellationToken)
                : Result<OwnedAgent>.Failure(new AccessDenied("No wallet is linked."));
            if (!holds.IsSuccess)
            {
                if (holds.Error is AccessDenied or NotFound)
                {
                    await mediator.Send(new RevokeThread.Command(communityId, thread.Id), cancellationToken);
                    return Outcome.Revoked;
                }

                return holds.Error!;
            }

            var placeholder = DiscordWrite.Create("community:" + slug, HttpMethod.Post, $"channels/{request.ChannelId}/messages",
                new MessagePayload("…"), time.GetUtcNow(), "reply:" + request.MessageId);
            var queued = await mediator.Send(new QueueWrites.Command([placeholder]), cancellationToken);
            if (!queued.IsSuccess && queued.Error is not AlreadyExists)
            {
                return queued.Error!;
            }

            if (!queued.IsSuccess || queued.Value == 0)
            {
                return Outcome.Duplicate;
            }

            var sink = new ThreadSink(mediator, awaiter, time, "community:" + slug, request.ChannelId, placeholder.Id);
            var chat = await mediator.Send(new Chat.Command(slug, thread.TokenId, linked.Value.Wallet!.Value, request.Content, null, ChatSource.Discord, sink,
                thread.ConversationId), cancellationToken);
            if (!chat.IsSuccess)
            {
                await sink.FailAsync(chat.Error!.Detail, cancellationToken);
                return Outcome.Failed;
            }

            if (thread.ConversationId is null && sink.ConversationId is { } conversation)
            {
                await mediator.Send(new RememberConversation.Command(communityId, thread.Id, conversation), cancellationToken);
            }

            return Outcome.Answered;
        }
    }
}

/// <summary>
/// Streams a reply into Discord by editing messages through the queue: at most one edit per message
/// on its way at a time (so edits cannot overtake each other), at most one every <see cref="EditEvery"/>,
/// and a new message whenever the text passes 2,000 characters.
/// </summary>
internal sealed class ThreadSink(IMediator mediator, DiscordWriteAwaiter awaiter, TimeProvider time, string origin, string channelId, Guid placeholderWrite)
    : IChatSink
{
    public static readonly TimeSpan EditEvery = TimeSpan.FromMilliseconds(1500);
    private readonly System.Text.StringBuilder _text = new();
    private readonly List<string> _messageIds = [];
    private Guid? _lastWrite = placeholderWrite;
    private DateTimeOffset _lastEdit = DateTimeOffset.MinValue;
    private string _shown = "";

    public Guid? ConversationId { get; private set; }

    public Task StartAsync(Chat.Started started, CancellationToken cancellationToken)
    {
        ConversationId = started.ConversationId;
        return Task.CompletedTask;
    }

    public async Task TokenAsync(string text, CancellationToken cancellationToken)
    {
        _text.Append(text);
        if (time.GetUtcNow() - _lastEdit >= EditEvery && await PreviousDoneAsync(wait: false, cancellationToken))
        {
            await FlushAsync(final: false, cancellationToken);
        }
    }

    public async Task EndAsync(Chat.Ended ended, CancellationToken cancellationToken)
    {
        await PreviousDoneAsync(wait: true, cancellationToken);
        await FlushAsync(final: true, cancellationToken);
    }

    public async Task ErrorAsync(string code, string message, CancellationToken cancellationToken)
    {
        _text.Append("\n\n(" + message + ")");
        await PreviousDoneAsync(wait: true, cancellationToken);
        await FlushAsync(final: true, cancellationToken);
    }

    public async Task FailAsync(string message, CancellationToken cancellationToken)
    {
        _text.Clear().Append(message);
        await PreviousDoneAsync(wait: true, cancellationToken);
        await FlushAsync(final: true, cancellationToken);
    }

    private async Task<bool> PreviousDoneAsync(bool wait, CancellationToken cancellationToken)
    {
        if (_lastWrite is not { } last)
        {
            return true;
        }

        var sent = await awaiter.ResponseAsync(last, wait, cancellationToken);
        if (sent is null)
        {
            return false;
        }

        if (sent.Value.Created && sent.Value.MessageId is { } id && !_messageIds.Contains(id))
        {
            _messageIds.Add(id);
        }

        _lastWrite = null;
        return true;
    }

    private async Task FlushAsync(bool final, CancellationToken cancellationToken)
    {
        var parts = Messages.Split(_text.Length == 0 ? "…" : _text.ToString());
        if (_messageIds.Count == 0)
        {
            return;
        }

        // Earlier parts are complete once a later one exists; the message being written is the last known one.
        var index = _messageIds.Count - 1;
        var current = parts.Count > index ? parts[index] : "";
        var writes = new List<DiscordWrite>();
        if (current.Length > 0 && current != _shown)
        {
            writes.Add(DiscordWrite.Create(origin, HttpMethod.Patch, $"channels/{channelId}/messages/{_messageIds[index]}",
                new MessagePayload(current), time.GetUtcNow()));
            _shown = current;
        }

        if (parts.Count > _messageIds.Count)
        {
            // The next part needs its own message; its id comes back with the answer.
            var next = DiscordWrite.Create(origin, HttpMethod.Post, $"channels/{channelId}/messages",
                new MessagePayload(parts[_messageIds.Count]), time.GetUtcNow());
            writes.Add(next);
            _shown = parts[_messageIds.Count];
            _lastWrite = next.Id;
        }
        else if (writes.Count > 0)
        {
            _lastWrite = writes[^1].Id;
        }

        if (writes.Count > 0)
        {
            _lastEdit = time.GetUtcNow();
            await mediator.Send(new QueueWrites.Command(writes), cancellationToken);
        }

        if (final && parts.Count > _messageIds.Count)
        {
            await PreviousDoneAsync(wait: true, cancellationToken);
            await FlushAsync(final: true, cancellationToken);
        }
    }
}

/// <summary>Reads a queued write's outcome from the database (any replica may have sent it).</summary>
public sealed class DiscordWriteAwaiter(NpgsqlDataSource dataSource)
{
    public static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(3);

    /// <summary>The id Discord gave the message (null for a write without one); null overall when not sent (yet, or ever).</summary>
    public async Task<(string? MessageId, bool Created)?> ResponseAsync(Guid writeId, bool wait, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + MaxWait;
        while (true)
        {
            await using var command = dataSource.CreateCommand("SELECT status, response, method FROM discord_writes WHERE id = @id");
            command.Parameters.AddWithValue("id", writeId);
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                if (await reader.ReadAsync(cancellationToken))
                {
                    var status = reader.GetString(0);
                    if (status == "sent")
                    {
                        var id = reader.IsDBNull(1) ? null : TryId(reader.GetString(1));
                        return (id, reader.GetString(2) == "POST");
                    }

                    if (status == "dead")
                    {
                        return (null, false);
                    }
                }
            }

            if (!wait || DateTimeOffset.UtcNow > deadline)
            {
                return null;
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    private static string? TryId(string response)
    {
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<DiscordMessage>(response, DiscordJson.Options)?.Id;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}

/// <summary>What a user whose wallet link has not been verified for 48 h is told, in a thread and by /my-agent.</summary>
public static class StaleLink
{
    public static string Explanation(DateTimeOffset verifiedAt, string then) =>
        $"Your wallet link was last verified on chain <t:{verifiedAt.ToUnixTimeSeconds()}:R>, more than 48 hours ago, so I cannot act on it for now. "
        + $"Run /verify to link your wallet again (or wait for the next daily check, if your wallet still holds the NFT), then {then}.";
}
