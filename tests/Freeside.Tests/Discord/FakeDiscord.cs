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
using NSec.Cryptography;

namespace Freeside.Tests.Discord;

/// <summary>
/// Discord for tests, on a real loopback port: the REST routes Freeside uses (any route is accepted and
/// recorded; messages and threads get ids), per-route buckets with X-RateLimit-* headers and a 429
/// for any request sent into an empty bucket, the global limit (more than <see cref="GlobalLimit"/>
/// requests in one second → 429), failures and 429s on demand, the gateway (hello, identify, heartbeat,
/// dispatch, resume with replay, reconnect, invalid session) and Ed25519-signed interactions.
/// </summary>
public sealed class FakeDiscord : IAsyncDisposable
{
    public const string ApplicationId = "100000000000000001";
    public const string BotToken = "fake-bot-token";

    private readonly WebApplication _app;
    private readonly Key _key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, (int Remaining, DateTimeOffset ResetAt)> _buckets = new();
    private readonly Queue<DateTimeOffset> _recent = new();
    private readonly object _gate = new();
    private long _ids = 900_000_000_000_000_000;
    private int _failNext;
    private int _failStatus = 500;
    private int _rateLimitNext;
    private int _sent429;
    private int _maxPerSecond;

    private FakeDiscord(WebApplication app)
    {
        _app = app;
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

    /// <summary>The most requests seen in any one-second window.</summary>
    public int MaxPerSecond => Volatile.Read(ref _maxPerSecond);

    public Gateway GatewayServer { get; } = new();

    public static async Task<FakeDiscord> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var fake = new FakeDiscord(app);
        app.UseWebSockets();
        app.Map("/gateway", fake.GatewayServer.AcceptAsync);
        app.Map("/api/v10/{**path}", fake.RestAsync);
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
        var path = (string)http.Request.RouteValues["path"]!;
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync();
        var now = DateTimeOffset.UtcNow;
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
        await http.Response.WriteAsJsonAsync(new { id, channel_id = path.EndsWith("/threads", StringComparison.Ordinal) ? channel : channel, type = 0 });
    }

    public async ValueTask DisposeAsync()
    {
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
            _stopping.Cancel();
            _socket?.Abort();
            _stopping.Dispose();
        }
    }
}
