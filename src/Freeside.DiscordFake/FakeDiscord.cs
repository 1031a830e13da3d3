using System.Collections.Concurrent;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NSec.Cryptography;

namespace Freeside.DiscordFake;

/// <summary>
/// Discord on a real loopback port, for the tests and for `./build.sh run` without a bot token: the REST
/// routes Freeside uses (any route is accepted and recorded; messages and threads get ids), per-route
/// buckets with X-RateLimit-* headers and a 429 for any request sent into an empty bucket, the global
/// limit (more than <see cref="GlobalLimit"/> requests in one second → 429), failures and 429s on demand,
/// the gateway (hello, identify, heartbeat, dispatch, resume with replay, reconnect, invalid session) and
/// Ed25519-signed interactions. Operator routes under /fake/ play a Discord user for people trying
/// Freeside by curl: a signed slash command, a message in a thread, what the bot wrote.
/// </summary>
public sealed class FakeDiscord : IAsyncDisposable
{
    public const string ApplicationId = "100000000000000001";
    public const string BotToken = "fake-bot-token";

    /// <summary>The server, channel and user the operator routes use unless told otherwise (`./build.sh run` connects the demo community to this server).</summary>
    public const string DemoGuildId = "200000000000000001";
    public const string DemoChannelId = "200000000000000002";
    public const string DemoUserId = "300000000000000001";

    /// <summary>Every permission Freeside checks for threads (Read Message History, Manage Threads, Create Public/Private Threads, Send Messages in Threads).</summary>
    public const long ThreadPermissions = (1L << 16) | (1L << 34) | (1L << 35) | (1L << 36) | (1L << 38);

    private readonly WebApplication _app;
    private readonly Uri? _interactionsUrl;
    private readonly HttpClient _interactionsClient = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, string>> _channels = new();
    private readonly ConcurrentDictionary<string, string> _threads = new();
    // Snowflakes from the clock, as Discord's are: a restarted fake must not hand out ids Freeside has
    // already seen (an interaction id is a dedupe key of its answer; a thread id is unique per database).
    private long _interactionIds = Snowflake();
    private readonly Key _key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, (int Remaining, DateTimeOffset ResetAt)> _buckets = new();
    private readonly Queue<DateTimeOffset> _recent = new();
    private readonly object _gate = new();
    private long _ids = Snowflake() + (1L << 21);
    private int _failNext;
    private int _failStatus = 500;
    private int _rateLimitNext;
    private int _sent429;
    private int _sentGlobal429;
    private int _maxPerSecond;

    private FakeDiscord(WebApplication app, Uri? interactionsUrl)
    {
        _app = app;
        _interactionsUrl = interactionsUrl;
    }

    public Uri Url { get; private set; } = null!;

    public Uri ApiUrl => new(Url, "api/v10/");

    public Uri GatewayUrl => new UriBuilder(Url) { Scheme = "ws", Path = "/gateway" }.Uri;

    public string PublicKeyHex => Convert.ToHexStringLower(_key.PublicKey.Export(KeyBlobFormat.RawPublicKey));

    /// <summary>Requests per bucket before Discord says wait (X-RateLimit-Limit), and how long a bucket takes to refill.</summary>
    public int BucketLimit { get; set; } = 5;

    public TimeSpan BucketReset { get; set; } = TimeSpan.FromMilliseconds(200);

    public int GlobalLimit { get; set; } = 50;

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    public int TooManyRequestsSent => Volatile.Read(ref _sent429);

    /// <summary>Of <see cref="TooManyRequestsSent"/>, those for the global limit (more than <see cref="GlobalLimit"/> in one second).</summary>
    public int GlobalTooManyRequestsSent => Volatile.Read(ref _sentGlobal429);

    /// <summary>The most requests seen in any one-second window.</summary>
    public int MaxPerSecond => Volatile.Read(ref _maxPerSecond);

    public Gateway GatewayServer { get; } = new();

    /// <param name="url">Where to listen; port 0 picks a free one.</param>
    /// <param name="interactionsUrl">Freeside's POST /api/discord/interactions, for the operator route that sends slash commands.</param>
    public static async Task<FakeDiscord> StartAsync(string url = "http://127.0.0.1:0", Uri? interactionsUrl = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        var app = builder.Build();
        var fake = new FakeDiscord(app, interactionsUrl);
        app.UseWebSockets();
        app.Map("/gateway", fake.GatewayServer.AcceptAsync);
        app.Map("/api/v10/{**path}", fake.RestAsync);
        app.MapGet("/fake/public-key", () => Results.Json(new { public_key = fake.PublicKeyHex, application_id = ApplicationId }));
        app.MapPost("/fake/interactions", (Func<HttpContext, Task<IResult>>)fake.OperatorInteractionAsync);
        app.MapPost("/fake/messages", (Func<HttpContext, Task<IResult>>)fake.OperatorMessageAsync);
        app.MapGet("/fake/channels", () => Results.Json(fake._threads.Select(t => new { id = t.Key, parent_id = t.Value })));
        app.MapGet("/fake/channels/{channelId}/messages", (string channelId) =>
            Results.Json(fake.MessagesIn(channelId).Select(m => new { id = m.Id, content = m.Content })));
        // A connected gateway session is a request that never ends; without this a SIGTERM waits out the host's shutdown timeout.
        app.Lifetime.ApplicationStopping.Register(fake.GatewayServer.Dispose);
        await app.StartAsync();
        fake.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
        return fake;
    }

    /// <summary>The next <paramref name="count"/> requests fail with <paramref name="status"/>.</summary>
    public void FailNext(int count, int status = 500)
    {
        _failStatus = status;
        Volatile.Write(ref _failNext, count);
    }

    /// <summary>The next <paramref name="count"/> requests get a 429 (retry_after 0.05 s), as another client of the bot would cause.</summary>
    public void RateLimitNext(int count) => Volatile.Write(ref _rateLimitNext, count);

    public (string Timestamp, string Signature) Sign(byte[] body, DateTimeOffset? at = null, Key? key = null)
    {
        var timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signed = Encoding.ASCII.GetBytes(timestamp).Concat(body).ToArray();
        return (timestamp, Convert.ToHexStringLower(SignatureAlgorithm.Ed25519.Sign(key ?? _key, signed)));
    }

    private async Task RestAsync(HttpContext http)
    {
        // Arrival as early as this handler can see it: before the body is read, which a busy process may delay.
        var now = DateTimeOffset.UtcNow;
        var path = (string)http.Request.RouteValues["path"]!;
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync();
        var route = http.Request.Method + " " + string.Join('/', path.Split('/').Take(2));
        int status;
        var global = false;
        (int Remaining, DateTimeOffset ResetAt) bucket;
        lock (_gate)
        {
            while (_recent.Count > 0 && _recent.Peek() <= now - TimeSpan.FromSeconds(1))
            {
                _recent.Dequeue();
            }

            _recent.Enqueue(now);
            _maxPerSecond = Math.Max(_maxPerSecond, _recent.Count);
            bucket = _buckets.GetValueOrDefault(route, (BucketLimit, now + BucketReset));
            if (bucket.ResetAt <= now)
            {
                bucket = (BucketLimit, now + BucketReset);
            }

            if (_recent.Count > GlobalLimit)
            {
                status = 429;
                global = true;
            }
            else if (bucket.Remaining <= 0)
            {
                status = 429;
            }
            else if (_rateLimitNext > 0)
            {
                _rateLimitNext--;
                status = 429;
            }
            else if (_failNext > 0)
            {
                _failNext--;
                status = _failStatus;
            }
            else
            {
                status = 200;
                bucket.Remaining--;
            }

            _buckets[route] = bucket;
        }

        var resetAfter = Math.Max(0, (bucket.ResetAt - now).TotalSeconds);
        http.Response.Headers["X-RateLimit-Limit"] = BucketLimit.ToString(CultureInfo.InvariantCulture);
        http.Response.Headers["X-RateLimit-Remaining"] = bucket.Remaining.ToString(CultureInfo.InvariantCulture);
        http.Response.Headers["X-RateLimit-Reset-After"] = resetAfter.ToString("0.000", CultureInfo.InvariantCulture);
        // As Discord does: one hash per route shape; the major parameter (the channel) splits the state, not the hash.
        var shape = http.Request.Method + " " + string.Join('/', path.Split('/').Select(p => p.All(char.IsAsciiDigit) ? ":id" : p));
        http.Response.Headers["X-RateLimit-Bucket"] = "bucket-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(shape)))[..12];
        _requests.Enqueue(new RecordedRequest(http.Request.Method, path, body, http.Request.Headers.Authorization.ToString(), now, status));
        http.Response.StatusCode = status;
        if (status == 429)
        {
            Interlocked.Increment(ref _sent429);
            if (global)
            {
                Interlocked.Increment(ref _sentGlobal429);
                http.Response.Headers["X-RateLimit-Global"] = "true";
            }

            await http.Response.WriteAsJsonAsync(new { message = "You are being rate limited.", retry_after = global ? 1.0 : Math.Max(0.05, resetAfter), global });
            return;
        }

        if (status != 200)
        {
            await http.Response.WriteAsJsonAsync(new { message = "failure on demand", code = 0 });
            return;
        }

        var id = Interlocked.Increment(ref _ids).ToString(CultureInfo.InvariantCulture);
        var channel = path.StartsWith("channels/", StringComparison.Ordinal) ? path.Split('/')[1] : "0";
        Remember(http.Request.Method, path, body, id);
        await http.Response.WriteAsJsonAsync(new { id, channel_id = path.EndsWith("/threads", StringComparison.Ordinal) ? channel : channel, type = 0 });
    }

    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    private static long Snowflake() => (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 1_420_070_400_000L) << 22;

    /// <summary>The current text of each message the bot wrote in a channel (a thread included), oldest first.</summary>
    public IReadOnlyList<(string Id, string Content)> MessagesIn(string channelId) =>
        _channels.TryGetValue(channelId, out var messages)
            ? [.. messages.OrderBy(m => long.Parse(m.Key, CultureInfo.InvariantCulture)).Select(m => (m.Key, m.Value))]
            : [];

    private void Remember(string method, string path, string body, string id)
    {
        var parts = path.Split('/');
        if (parts is ["channels", var parent, "threads"] && method == "POST")
        {
            _threads[id] = parent;
            return;
        }

        if (parts is not ["channels", var channel, "messages", ..] || method is not ("POST" or "PATCH"))
        {
            return;
        }

        var content = body.Length > 0 && JsonNode.Parse(body)?["content"]?.GetValue<string>() is { } text ? text : "";
        var messages = _channels.GetOrAdd(channel, _ => new ConcurrentDictionary<string, string>());
        if (parts.Length == 3 && method == "POST")
        {
            messages[id] = content;
        }
        else if (parts.Length == 4 && method == "PATCH")
        {
            messages[parts[3]] = content;
        }
    }

    /// <summary>
    /// POST /fake/interactions {"command", "user_id"?, "guild_id"?, "channel_id"?, "options"?: {name: value}}: a slash
    /// command signed with this fake's key, sent to Freeside, and — once Freeside edits its deferred answer — that answer.
    /// </summary>
    private async Task<IResult> OperatorInteractionAsync(HttpContext http)
    {
        if (_interactionsUrl is null)
        {
            return Results.Problem("Start the fake with DISCORD_FAKE_INTERACTIONS_URL (Freeside's /api/discord/interactions).", statusCode: 409);
        }

        var request = await JsonNode.ParseAsync(http.Request.Body) as JsonObject;
        if (request?["command"]?.GetValue<string>() is not { Length: > 0 } command)
        {
            return Results.Problem("The body needs \"command\", e.g. {\"command\": \"verify\"}.", statusCode: 400);
        }

        var user = request["user_id"]?.GetValue<string>() ?? DemoUserId;
        var token = "fake-interaction-" + Guid.NewGuid().ToString("N");
        var options = (request["options"] as JsonObject ?? []).Select(o => (JsonNode)new JsonObject
        {
            ["name"] = o.Key, ["type"] = 3, ["value"] = o.Value?.ToString() ?? "",
        }).ToArray();
        var body = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["id"] = Interlocked.Increment(ref _interactionIds).ToString(CultureInfo.InvariantCulture),
            ["type"] = 2,
            ["application_id"] = ApplicationId,
            ["token"] = token,
            ["guild_id"] = request["guild_id"]?.GetValue<string>() ?? DemoGuildId,
            ["channel_id"] = request["channel_id"]?.GetValue<string>() ?? DemoChannelId,
            ["app_permissions"] = ThreadPermissions.ToString(CultureInfo.InvariantCulture),
            ["member"] = new JsonObject { ["user"] = new JsonObject { ["id"] = user, ["username"] = "user-" + user } },
            ["data"] = new JsonObject { ["id"] = "1", ["name"] = command, ["options"] = new JsonArray(options) },
        }.ToJsonString());
        var (timestamp, signature) = Sign(body);
        using var post = new HttpRequestMessage(HttpMethod.Post, _interactionsUrl) { Content = new ByteArrayContent(body) };
        post.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        post.Headers.Add("X-Signature-Ed25519", signature);
        post.Headers.Add("X-Signature-Timestamp", timestamp);
        using var answer = await _interactionsClient.SendAsync(post, http.RequestAborted);
        var immediate = await answer.Content.ReadAsStringAsync(http.RequestAborted);
        var original = $"webhooks/{ApplicationId}/{token}/messages/@original";
        string? reply = null;
        for (var i = 0; i < 300 && answer.IsSuccessStatusCode && reply is null; i++)
        {
            reply = _requests.FirstOrDefault(r => r.Path == original && r.Status == 200) is { } edit
                ? JsonNode.Parse(edit.Body)?["content"]?.GetValue<string>() ?? ""
                : null;
            if (reply is null)
            {
                await Task.Delay(100, http.RequestAborted);
            }
        }

        return Results.Json(new { status = (int)answer.StatusCode, response = JsonNode.Parse(immediate.Length > 0 ? immediate : "null"), reply });
    }

    /// <summary>POST /fake/messages {"channel_id", "content", "author_id"?, "guild_id"?}: a MESSAGE_CREATE on the gateway, as a user writing in a thread.</summary>
    private async Task<IResult> OperatorMessageAsync(HttpContext http)
    {
        var request = await JsonNode.ParseAsync(http.Request.Body) as JsonObject;
        if (request?["channel_id"]?.GetValue<string>() is not { Length: > 0 } channel || request["content"]?.GetValue<string>() is not { Length: > 0 } content)
        {
            return Results.Problem("The body needs \"channel_id\" (a thread's id, see GET /fake/channels) and \"content\".", statusCode: 400);
        }

        var author = request["author_id"]?.GetValue<string>() ?? DemoUserId;
        var id = Interlocked.Increment(ref _ids).ToString(CultureInfo.InvariantCulture);
        await GatewayServer.DispatchAsync("MESSAGE_CREATE", new JsonObject
        {
            ["id"] = id, ["channel_id"] = channel, ["guild_id"] = request["guild_id"]?.GetValue<string>() ?? DemoGuildId, ["content"] = content,
            ["author"] = new JsonObject { ["id"] = author, ["username"] = "user-" + author },
        });
        return Results.Json(new { id, delivered = GatewayServer.Connected });
    }

    public async ValueTask DisposeAsync()
    {
        _interactionsClient.Dispose();
        GatewayServer.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _key.Dispose();
    }

    public sealed record RecordedRequest(string Method, string Path, string Body, string Authorization, DateTimeOffset At, int Status);

    /// <summary>The gateway side: one session id, every dispatch kept for replay on resume.</summary>
    public sealed class Gateway : IDisposable
    {
        private readonly List<(long Seq, string Name, JsonNode Data)> _sent = [];
        private readonly SemaphoreSlim _sendGate = new(1, 1);
        private readonly CancellationTokenSource _stopping = new();
        private int _disposed;
        private WebSocket? _socket;
        private long _seq;
        private TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Short enough for tests to see heartbeats, long enough that a loaded machine does not miss ACKs (a zombie reconnect).</summary>
        public int HeartbeatIntervalMs { get; set; } = 1000;

        public string SessionId { get; private set; } = "session-1";

        public ConcurrentQueue<JsonObject> Received { get; } = new();

        public int Identifies => Received.Count(p => (int)p["op"]! == 2);

        public int Resumes => Received.Count(p => (int)p["op"]! == 6);

        public int Heartbeats => Received.Count(p => (int)p["op"]! == 1);

        /// <summary>Completes when a session is identified or resumed.</summary>
        public Task Ready => _ready.Task;

        /// <summary>Whether a client holds the gateway connection now.</summary>
        public bool Connected => _socket is { State: WebSocketState.Open };

        public async Task AcceptAsync(HttpContext http)
        {
            if (!http.WebSockets.IsWebSocketRequest)
            {
                http.Response.StatusCode = 400;
                return;
            }

            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            _socket = socket;
            await SendAsync(socket, new JsonObject { ["op"] = 10, ["d"] = new JsonObject { ["heartbeat_interval"] = HeartbeatIntervalMs } });
            var buffer = new byte[64 * 1024];
            try
            {
                while (socket.State == WebSocketState.Open && !_stopping.IsCancellationRequested)
                {
                    var result = await socket.ReceiveAsync(buffer, _stopping.Token);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        break;
                    }

                    var payload = JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, result.Count))!.AsObject();
                    Received.Enqueue(payload);
                    switch ((int)payload["op"]!)
                    {
                        case 1:
                            await SendAsync(socket, new JsonObject { ["op"] = 11 });
                            break;
                        case 2:
                            lock (_sent)
                            {
                                _sent.Clear();
                                _seq = 0;
                            }

                            SessionId = "session-" + Guid.NewGuid().ToString("N")[..8];
                            await DispatchAsync("READY", new JsonObject
                            {
                                ["session_id"] = SessionId,
                                ["resume_gateway_url"] = new UriBuilder(http.Request.Scheme == "https" ? "wss" : "ws", http.Request.Host.Host, http.Request.Host.Port ?? 80, "/gateway").Uri.ToString(),
                                ["user"] = new JsonObject { ["id"] = "1", ["username"] = "freeside" },
                            });
                            _ready.TrySetResult();
                            break;
                        case 6:
                            var from = (long)payload["d"]!["seq"]!;
                            List<(long Seq, string Name, JsonNode Data)> missed;
                            lock (_sent)
                            {
                                missed = _sent.Where(e => e.Seq > from).ToList();
                            }

                            foreach (var (seq, name, data) in missed)
                            {
                                await SendAsync(socket, new JsonObject { ["op"] = 0, ["s"] = seq, ["t"] = name, ["d"] = data.DeepClone() });
                            }

                            await DispatchAsync("RESUMED", new JsonObject());
                            _ready.TrySetResult();
                            break;
                    }
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                // The client dropped, or the test stopped the fake.
            }
        }

        /// <summary>Sends an event (numbered), or only records it for replay when no client is connected.</summary>
        public async Task DispatchAsync(string name, JsonNode data)
        {
            long seq;
            lock (_sent)
            {
                seq = ++_seq;
                _sent.Add((seq, name, data.DeepClone()));
            }

            if (_socket is { State: WebSocketState.Open } socket)
            {
                try
                {
                    await SendAsync(socket, new JsonObject { ["op"] = 0, ["s"] = seq, ["t"] = name, ["d"] = data.DeepClone() });
                }
                catch (WebSocketException)
                {
                    // Dropped: the event waits for the resume.
                }
            }
        }

        /// <summary>Cuts the connection without a close frame, as a network failure does; the next Ready is the resumed session.</summary>
        public void Drop()
        {
            _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var socket = _socket;
            _socket = null;
            socket?.Abort();
        }

        public Task SendOpAsync(int op, JsonNode? data) =>
            _socket is { } socket ? SendAsync(socket, new JsonObject { ["op"] = op, ["d"] = data }) : Task.CompletedTask;

        public void ResetReady() => _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        private async Task SendAsync(WebSocket socket, JsonObject payload)
        {
            await _sendGate.WaitAsync();
            try
            {
                // A send to a connection the client already dropped must not hold the gate for the next one.
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.SendAsync(Encoding.UTF8.GetBytes(payload.ToJsonString()), WebSocketMessageType.Text, true, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                socket.Abort();
            }
            finally
            {
                _sendGate.Release();
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1)
            {
                return;
            }

            _stopping.Cancel();
            _socket?.Abort();
            _stopping.Dispose();
        }
    }
}
