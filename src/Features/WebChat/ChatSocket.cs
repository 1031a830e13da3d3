using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Freeside.Features.Common.Errors;
using Freeside.Features.Identity.Sessions;
using Freeside.Features.Inference;
using MediatR;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.WebChat;

/// <summary>Close codes of the chat socket (docs/webchat.md); 4xxx are Freeside's own.</summary>
public static class ChatClose
{
    public const WebSocketCloseStatus Normal = WebSocketCloseStatus.NormalClosure;
    public const WebSocketCloseStatus GoingAway = WebSocketCloseStatus.EndpointUnavailable; // 1001: draining
    public const WebSocketCloseStatus BadData = WebSocketCloseStatus.InvalidPayloadData; // 1007: not JSON, unknown type
    public const WebSocketCloseStatus Binary = WebSocketCloseStatus.InvalidMessageType; // 1003
    public const WebSocketCloseStatus Flood = WebSocketCloseStatus.PolicyViolation; // 1008
    public const WebSocketCloseStatus TooBig = WebSocketCloseStatus.MessageTooBig; // 1009
    public const WebSocketCloseStatus Unauthenticated = (WebSocketCloseStatus)4401;
    public const WebSocketCloseStatus Idle = (WebSocketCloseStatus)4408;
    public const WebSocketCloseStatus TooManySockets = (WebSocketCloseStatus)4429;
}

/// <summary>
/// One browser's chat socket: authenticates (cookie, or a first <c>auth</c> message), takes a seat of the wallet's
/// three, then reads frames — at most 4 KB each, a token bucket per session — and runs each <c>chat</c> through
/// the same <see cref="Chat.Command"/> as the HTTP chat. When the socket goes away mid-stream the chat's token is
/// cancelled, so the chat service charges what was delivered (billing <c>observed_chunks</c>).
/// </summary>
public sealed class ChatSocket(
    WebSocket socket, string slug, string tokenId, Session? session, IServiceScopeFactory scopes, SocketHub hub, WalletSockets seats,
    FrameBudgets budgets, WebChatSettings settings, TimeProvider time)
{
    public const int MaxFrameBytes = 4 * 1024;
    public const int MaxMessageChars = 2_000;
    public const int MaxSocketsPerWallet = 3;

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private static readonly TimeSpan AuthWithin = TimeSpan.FromSeconds(10);

    private readonly SemaphoreSlim _send = new(1, 1);
    private readonly CancellationTokenSource _life = new();
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Session? _session = session;
    private Task _chat = Task.CompletedTask;
    private SocketSink? _sink;
    private long _lastActivity;
    private bool _draining;
    private bool _closing;

    public Guid Id { get; } = Guid.NewGuid();

    /// <summary>Who sees this socket's mirrored events: the same wallet on the same agent.</summary>
    public string? Audience { get; private set; }

    public async Task RunAsync(CancellationToken aborted)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(aborted, _life.Token);
        string? seat = null;
        hub.Add(this);
        try
        {
            if (_session is null)
            {
                // Closing (not cancelling the receive, which would abort the connection) so the browser learns why.
                await using var authDeadline = new Timer(_ => _ = CloseAsync(ChatClose.Unauthenticated, "Sign in first: no session cookie and no auth message."),
                    null, AuthWithin, Timeout.InfiniteTimeSpan);
                _session = await AuthenticateFromFirstMessageAsync(linked.Token);
                if (_session is null)
                {
                    return;
                }
            }

            var wallet = _session.Address.ToChecksumString().ToLowerInvariant();
            if (!await seats.TryAcquireAsync(wallet, Id))
            {
                await CloseAsync(ChatClose.TooManySockets, $"At most {MaxSocketsPerWallet} chat sockets per wallet are allowed.");
                return;
            }

            seat = wallet;
            Audience = $"{slug}/{tokenId}/{wallet}";
            Touch();
            await SendAsync(new { type = "welcome", wallet = _session.Address.ToChecksumString(), slug, token_id = tokenId,
                max_message_chars = MaxMessageChars, max_frame_bytes = MaxFrameBytes, idle_seconds = (int)settings.IdleTimeout.TotalSeconds }, linked.Token);
            var watchdog = WatchAsync(wallet, linked.Token);
            await ReadLoopAsync(linked.Token);
            await _life.CancelAsync();
            await watchdog.ContinueWith(_ => { }, TaskScheduler.Default);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            // The peer went away or the server is stopping: the finally settles whatever was in flight.
        }
        finally
        {
            await _life.CancelAsync();
            await _chat.ContinueWith(_ => { }, TaskScheduler.Default);
            if (seat is not null)
            {
                await seats.ReleaseAsync(seat, Id);
            }

            hub.Remove(this);
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await CloseAsync(ChatClose.Normal, "bye");
            }

            await AwaitCloseReplyAsync();
            _done.TrySetResult();
        }
    }

    private async Task<Session?> AuthenticateFromFirstMessageAsync(CancellationToken cancellationToken)
    {
        var text = await ReceiveTextAsync(cancellationToken);
        if (text is null || _closing)
        {
            return null;
        }

        string? token = null;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && Str(doc.RootElement, "type") == "auth")
            {
                token = Str(doc.RootElement, "token");
            }
        }
        catch (JsonException)
        {
        }

        await using var scope = scopes.CreateAsyncScope();
        var found = token is null ? null : await SessionLookup.ValidateAsync(scope.ServiceProvider, token, cancellationToken);
        if (found is null)
        {
            await CloseAsync(ChatClose.Unauthenticated, "Sign in first: the first message must be {type:\"auth\", token} with a valid session.");
        }

        return found;
    }

    private async Task ReadLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var text = await ReceiveTextAsync(cancellationToken);
            if (text is null)
            {
                return;
            }

            if (!budgets.TryTake(_session!.Jti))
            {
                await CloseAsync(ChatClose.Flood, "Too many messages: slow down.");
                return;
            }

            JsonElement message;
            try
            {
                using var doc = JsonDocument.Parse(text);
                message = doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                await CloseAsync(ChatClose.BadData, "Every message must be a JSON object.");
                return;
            }

            switch (message.ValueKind == JsonValueKind.Object ? Str(message, "type") : null)
            {
                case "ping":
                    await SendAsync(new { type = "pong" }, cancellationToken);
                    break;
                case "chat":
                    await StartChatAsync(message, cancellationToken);
                    break;
                case "auth":
                    // Already signed in (the cookie); a page that also holds its token in memory sends it anyway.
                    break;
                default:
                    await CloseAsync(ChatClose.BadData, "Unknown message: type must be \"chat\" or \"ping\".");
                    return;
            }
        }
    }

    private async Task StartChatAsync(JsonElement message, CancellationToken cancellationToken)
    {
        var text = Str(message, "message");
        Guid? conversation = null;
        if (message.TryGetProperty("conversation_id", out var c) && c.ValueKind != JsonValueKind.Null)
        {
            if (c.ValueKind != JsonValueKind.String || !Guid.TryParse(c.GetString(), out var parsed))
            {
                await ErrorAsync("validation-failed", "conversation_id must be a conversation id (a UUID).", cancellationToken);
                return;
            }

            conversation = parsed;
        }

        if (string.IsNullOrWhiteSpace(text) || text.Length > MaxMessageChars)
        {
            await ErrorAsync("validation-failed", $"message must be 1 to {MaxMessageChars} characters.", cancellationToken);
            return;
        }

        if (_draining)
        {
            await ErrorAsync("draining", "The server is restarting; your message was not sent. Reconnect in a moment.", cancellationToken);
            return;
        }

        if (!_chat.IsCompleted)
        {
            if (_sink is not { Ended: true })
            {
                await ErrorAsync("busy", "Wait for the answer before sending the next message.", cancellationToken);
                return;
            }

            // The browser has the previous answer's end and may send at once; only that chat's mirroring and clean-up remain.
            await _chat;
        }

        Touch();
        await hub.MirrorAsync(this, JsonSerializer.Serialize(new { type = "user", message = text, conversation_id = conversation }, Json));
        var sink = _sink = new SocketSink(this);
        _chat = Task.Run(() => RunChatAsync(sink, text, conversation), CancellationToken.None);
    }

    private async Task RunChatAsync(SocketSink sink, string text, Guid? conversation)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var mediator = scope.ServiceProvider.GetRequiredService<IMediator>();
            var result = await mediator.Send(new Chat.Command(slug, tokenId, _session!.Address, text, null, ChatSource.Web, sink, conversation), _life.Token);
            if (!result.IsSuccess && !sink.Ended)
            {
                await sink.ErrorAsync(result.Error!.Type, result.Error.Detail, _life.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or WebSocketException)
        {
            // The socket closed; the chat service has already settled what was delivered.
        }
        finally
        {
            Touch();
        }
    }

    private async Task WatchAsync(string wallet, CancellationToken cancellationToken)
    {
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(settings.IdleTimeout.TotalMilliseconds / 4, 50, 5_000));
        var renewed = time.GetTimestamp();
        using var timer = new PeriodicTimer(tick, time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            if (time.GetElapsedTime(renewed) >= settings.PingInterval)
            {
                renewed = time.GetTimestamp();
                await seats.RenewAsync(wallet, Id);
            }

            if (_chat.IsCompleted && _session!.ExpiresAt <= time.GetUtcNow())
            {
                await CloseAsync(ChatClose.Unauthenticated, "Your session has expired; sign in again.");
                return;
            }

            if (_chat.IsCompleted && time.GetElapsedTime(Interlocked.Read(ref _lastActivity)) >= settings.IdleTimeout)
            {
                await CloseAsync(ChatClose.Idle, "Closed after a while without messages; reconnect to chat again.");
                return;
            }
        }
    }

    /// <summary>Tells the browser the server is stopping, lets a chat in flight finish (until the deadline), then closes with 1001.</summary>
    public async Task DrainAsync(CancellationToken deadline)
    {
        _draining = true;
        try
        {
            await SendAsync(new { type = "drain" }, deadline);
            await _chat.WaitAsync(deadline);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or WebSocketException or TimeoutException)
        {
            // Out of time: closing cancels the chat, which is then charged as a partial completion.
        }

        await CloseAsync(ChatClose.GoingAway, "The server is restarting; reconnect in a moment.");

        // The read loop ends when the browser answers the close; cancelling a pending receive would abort the
        // connection and could drop the close frame still on its way out.
        await _done.Task.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
        await _life.CancelAsync();
    }

    /// <summary>Completes the closing handshake the server started, so the close frame is not lost to a reset connection.</summary>
    private async Task AwaitCloseReplyAsync()
    {
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var buffer = ArrayPool<byte>.Shared.Rent(MaxFrameBytes);
        try
        {
            while (socket.State == WebSocketState.CloseSent)
            {
                await socket.ReceiveAsync(buffer.AsMemory(), wait.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer never answered; the connection is dropped.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Null when the peer closed; the whole message otherwise. Closes (and returns null) on a frame too big or binary.</summary>
    private async Task<string?> ReceiveTextAsync(CancellationToken cancellationToken)
    {
        // An idle socket holds no receive buffer (a thousand idle sockets would hold 4 MB for nothing): a zero-byte receive
        // waits for the next frame, and a pooled buffer is rented only while a message is read.
        var waited = await socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
        if (!await AcceptableAsync(waited))
        {
            return null;
        }

        if (waited.EndOfMessage)
        {
            return "";
        }

        var buffer = ArrayPool<byte>.Shared.Rent(MaxFrameBytes);
        try
        {
            var length = 0;
            while (true)
            {
                if (length == MaxFrameBytes)
                {
                    await CloseAsync(ChatClose.TooBig, $"A message may be at most {MaxFrameBytes} bytes.");
                    return null;
                }

                var received = await socket.ReceiveAsync(buffer.AsMemory(length, MaxFrameBytes - length), cancellationToken);
                if (!await AcceptableAsync(received))
                {
                    return null;
                }

                length += received.Count;
                if (received.EndOfMessage)
                {
                    try
                    {
                        return new UTF8Encoding(false, true).GetString(buffer, 0, length);
                    }
                    catch (DecoderFallbackException)
                    {
                        await CloseAsync(ChatClose.BadData, "Messages must be UTF-8 JSON.");
                        return null;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>False when the peer closed, or sent binary (closed 1003 here).</summary>
    private async ValueTask<bool> AcceptableAsync(ValueWebSocketReceiveResult received)
    {
        if (received.MessageType == WebSocketMessageType.Close)
        {
            return false;
        }

        if (received.MessageType == WebSocketMessageType.Binary)
        {
            await CloseAsync(ChatClose.Binary, "Only text (JSON) messages are accepted.");
            return false;
        }

        return true;
    }

    private void Touch() => Interlocked.Exchange(ref _lastActivity, time.GetTimestamp());

    private Task ErrorAsync(string code, string message, CancellationToken cancellationToken) =>
        SendAsync(new { type = "error", code, message }, cancellationToken);

    private Task SendAsync(object message, CancellationToken cancellationToken) =>
        SendRawAsync(JsonSerializer.SerializeToUtf8Bytes(message, Json), cancellationToken);

    internal async Task SendRawAsync(byte[] payload, CancellationToken cancellationToken)
    {
        await _send.WaitAsync(cancellationToken);
        try
        {
            if (socket.State != WebSocketState.Open || _closing)
            {
                throw new IOException("The chat socket is closed.");
            }

            await socket.SendAsync(payload, WebSocketMessageType.Text, true, cancellationToken);
        }
        catch (WebSocketException e)
        {
            throw new IOException("The chat socket is closed.", e);
        }
        finally
        {
            _send.Release();
        }
    }

    internal async Task SendMirroredAsync(string payload)
    {
        try
        {
            await SendRawAsync(Encoding.UTF8.GetBytes(payload), _life.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // That tab is gone; its own loop cleans up.
        }
    }

    internal Task MirrorAsync(object message) => hub.MirrorAsync(this, JsonSerializer.Serialize(message, Json));

    private async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        await _send.WaitAsync();
        try
        {
            if (_closing || socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
            {
                return;
            }

            _closing = true;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.CloseOutputAsync(status, reason, timeout.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Already gone.
        }
        finally
        {
            _send.Release();
        }
    }

    private static string? Str(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>Writes a chat to the socket; a write to a closed socket is an <see cref="IOException"/>, which the chat service settles as a partial completion.</summary>
    private sealed class SocketSink(ChatSocket owner) : IChatSink
    {
        private volatile bool _ended;

        public bool Ended => _ended;

        public Task StartAsync(Chat.Started started, CancellationToken cancellationToken) => WriteAsync(new
        {
            type = "start", pool = started.Pool, personality_id = started.PersonalityId, conversation_id = started.ConversationId, message_id = started.MessageId,
        }, cancellationToken);

        public Task TokenAsync(string text, CancellationToken cancellationToken) => WriteAsync(new { type = "token", text }, cancellationToken);

        public Task EndAsync(Chat.Ended ended, CancellationToken cancellationToken)
        {
            _ended = true;
            return WriteAsync(new
            {
                type = "end",
                usage = new { prompt_tokens = ended.PromptTokens, completion_tokens = ended.CompletionTokens },
                cost_micro = ended.CostMicro,
                balance_micro = ended.BalanceMicro,
            }, cancellationToken);
        }

        public Task ErrorAsync(string code, string message, CancellationToken cancellationToken)
        {
            _ended = true;
            return WriteAsync(new { type = "error", code, message }, cancellationToken);
        }

        private async Task WriteAsync(object message, CancellationToken cancellationToken)
        {
            await owner.SendRawAsync(JsonSerializer.SerializeToUtf8Bytes(message, Json), cancellationToken);
            await owner.MirrorAsync(message);
        }
    }
}
