using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Freeside.Features.Discord.Client;

/// <summary>One event from the gateway (op 0): its name, sequence number and payload.</summary>
public sealed record GatewayDispatch(string Name, long Sequence, JsonElement Data);

public static class GatewayIntents
{
    public const int Guilds = 1 << 0;
    public const int GuildMessages = 1 << 9;
    public const int MessageContent = 1 << 15;
    public const int Default = Guilds | GuildMessages | MessageContent;
}

/// <summary>
/// The gateway WebSocket (v10, JSON): hello → identify (or resume) → heartbeats with a random first
/// delay (so replicas restarted together do not beat in step) → dispatches. A dropped connection,
/// a missed heartbeat ACK (a zombie connection) or op 7 reconnect resumes the session from the last
/// sequence number handled, so Discord replays what was missed; op 9 with d=false starts a new
/// session. A dispatch counts as handled only after the handler returns: a drop in the middle makes
/// Discord send it again, never skip it (handlers dedupe by message id).
/// </summary>
public sealed partial class GatewayClient
{
    private readonly Uri _gateway;
    private readonly string _token;
    private readonly int _intents;
    private readonly Func<GatewayDispatch, CancellationToken, Task> _onDispatch;
    private readonly Func<Exception, Task>? _onError;
    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private long _sequence = -1;
    private string? _sessionId;
    private Uri? _resumeUrl;
    private ClientWebSocket? _socket;

    public GatewayClient(Uri gateway, string token, int intents, Func<GatewayDispatch, CancellationToken, Task> onDispatch, Func<Exception, Task>? onError = null)
    {
        _gateway = gateway;
        _token = token;
        _intents = intents;
        _onDispatch = onDispatch;
        _onError = onError;
    }

    public string? SessionId => _sessionId;

    public long Sequence => Interlocked.Read(ref _sequence);

    public int Identifies { get; private set; }

    public int Resumes { get; private set; }

    /// <summary>Connects and keeps the session alive until <paramref name="cancellationToken"/> fires or Discord refuses the token.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var outcome = Outcome.Reconnect;
            try
            {
                outcome = await RunSessionAsync(cancellationToken);
                failures = 0;
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping. Cancelling a pending send aborts the socket, so the receive beside it may fail with a
                // WebSocketException ("Aborted") rather than a cancellation: either way the loop ends quietly.
                return;
            }
            catch (Exception e)
            {
                // Whatever broke this connection (a refused connect, a timeout, a frame we could not read),
                // the answer is the same: connect again with backoff. Only a fatal close code ends the loop.
                failures++;
                if (_onError is not null)
                {
                    await _onError(e);
                }
            }

            if (outcome == Outcome.Fatal)
            {
                return;
            }

            if (outcome == Outcome.NewSession)
            {
                _sessionId = null;
                _resumeUrl = null;
                Interlocked.Exchange(ref _sequence, -1);
            }

            // Discord asks for 1-5 s before identifying again after an invalid session; back off further on repeated failures.
            var delay = outcome == Outcome.NewSession ? TimeSpan.FromMilliseconds(1000 + Random.Shared.Next(4000))
                : TimeSpan.FromMilliseconds(Math.Min(30_000, 250 * (1 << Math.Min(failures, 7))) * (failures == 0 ? 0 : 1));
            try
            {
                await Task.Delay(delay, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>Drops the connection without a close handshake, as a network failure would (tests, and a zombie connection).</summary>
    public void Abort() => _socket?.Abort();

    private enum Outcome
    {
        Reconnect,
        NewSession,
        Fatal,
    }

    private async Task<Outcome> RunSessionAsync(CancellationToken cancellationToken)
    {
        using var socket = new ClientWebSocket();
        _socket = socket;
        var url = new UriBuilder(_sessionId is not null && _resumeUrl is not null ? _resumeUrl : _gateway) { Query = "v=10&encoding=json" }.Uri;
        await socket.ConnectAsync(url, cancellationToken);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task? heartbeat = null;
        var acked = 1;
        try
        {
            while (true)
            {
                var frame = await ReceiveAsync(socket, session.Token);
                if (frame is null)
                {
                    return socket.CloseStatus is { } status && IsFatal((int)status) ? Outcome.Fatal
                        : socket.CloseStatus is { } s && (int)s is 4007 or 4009 ? Outcome.NewSession : Outcome.Reconnect;
                }

                using var json = JsonDocument.Parse(frame);
                var root = json.RootElement;
                var op = root.GetProperty("op").GetInt32();
                switch (op)
                {
                    case 10:
                        var interval = TimeSpan.FromMilliseconds(root.GetProperty("d").GetProperty("heartbeat_interval").GetDouble());
                        heartbeat = HeartbeatAsync(socket, interval, () => Interlocked.Exchange(ref acked, 0) == 1, session.Token);
                        if (_sessionId is not null)
                        {
                            Resumes++;
                            await SendAsync(socket, new JsonObject
                            {
                                ["op"] = 6,
                                ["d"] = new JsonObject { ["token"] = _token, ["session_id"] = _sessionId, ["seq"] = Sequence },
                            }, session.Token);
                        }
                        else
                        {
                            Identifies++;
                            await SendAsync(socket, new JsonObject
                            {
                                ["op"] = 2,
                                ["d"] = new JsonObject
                                {
                                    ["token"] = _token,
                                    ["intents"] = _intents,
                                    ["properties"] = new JsonObject { ["os"] = "linux", ["browser"] = "freeside", ["device"] = "freeside" },
                                },
                            }, session.Token);
                        }

                        break;
                    case 11:
                        Interlocked.Exchange(ref acked, 1);
                        break;
                    case 1:
                        await SendHeartbeatAsync(socket, session.Token);
                        break;
                    case 7:
                        return Outcome.Reconnect;
                    case 9:
                        return root.TryGetProperty("d", out var resumable) && resumable.ValueKind == JsonValueKind.True
                            ? Outcome.Reconnect
                            : Outcome.NewSession;
                    case 0:
                        var name = root.GetProperty("t").GetString() ?? "";
                        var sequence = root.GetProperty("s").GetInt64();
                        var data = root.GetProperty("d");
                        if (name == "READY")
                        {
                            _sessionId = data.GetProperty("session_id").GetString();
                            _resumeUrl = data.TryGetProperty("resume_gateway_url", out var resumeUrl) && Uri.TryCreate(resumeUrl.GetString(), UriKind.Absolute, out var parsed)
                                ? parsed
                                : null;
                        }

                        await _onDispatch(new GatewayDispatch(name, sequence, data.Clone()), session.Token);
                        Interlocked.Exchange(ref _sequence, Math.Max(Sequence, sequence));
                        break;
                }

                if (heartbeat is { IsCompleted: true })
                {
                    // The heartbeat loop found no ACK since its last beat: a zombie connection.
                    return Outcome.Reconnect;
                }
            }
        }
        finally
        {
            await session.CancelAsync();
            if (heartbeat is not null)
            {
                try
                {
                    await heartbeat;
                }
                catch (OperationCanceledException)
                {
                }
                catch (Exception e) when (e is WebSocketException or ObjectDisposedException)
                {
                    // The socket is gone; the session is over either way.
                }
            }

            socket.Abort();
            _socket = null;
        }
    }

    private async Task HeartbeatAsync(ClientWebSocket socket, TimeSpan interval, Func<bool> takeAck, CancellationToken cancellationToken)
    {
        await Task.Delay(interval * Random.Shared.NextDouble(), cancellationToken);
        while (!cancellationToken.IsCancellationRequested)
        {
            if (!takeAck())
            {
                socket.Abort();
                return;
            }

            await SendHeartbeatAsync(socket, cancellationToken);
            await Task.Delay(interval, cancellationToken);
        }
    }

    private Task SendHeartbeatAsync(ClientWebSocket socket, CancellationToken cancellationToken) =>
        SendAsync(socket, new JsonObject { ["op"] = 1, ["d"] = Sequence < 0 ? null : JsonValue.Create(Sequence) }, cancellationToken);

    private async Task SendAsync(ClientWebSocket socket, JsonObject payload, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(payload.ToJsonString());
        await _sendGate.WaitAsync(cancellationToken);
        try
        {
            await socket.SendAsync(bytes, WebSocketMessageType.Text, true, cancellationToken);
        }
        finally
        {
            _sendGate.Release();
        }
    }

    private static async Task<byte[]?> ReceiveAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (true)
        {
            var result = await socket.ReceiveAsync(chunk, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            buffer.Write(chunk, 0, result.Count);
            if (buffer.Length > 4 * 1024 * 1024)
            {
                throw new InvalidOperationException("A gateway frame passed 4 MiB.");
            }

            if (result.EndOfMessage)
            {
                return buffer.ToArray();
            }
        }
    }

    /// <summary>Close codes after which reconnecting cannot help (bad token, bad intents, sharding).</summary>
    private static bool IsFatal(int code) => code is 4004 or 4010 or 4011 or 4012 or 4013 or 4014;
}
