using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Freeside.Tests.WebChat;

/// <summary>Freeside on real Kestrel (sockets need a real server), with the finn stand-in streaming slowly enough to drop mid-answer.</summary>
public class WebChatApp : ChatApp
{
    private static int _fixtures;

    public int Port { get; } = FinnStubProcess.FreePort();

    /// <summary>A Redis database of its own: the per-wallet socket seats are global, and every class signs in as the same wallet.</summary>
    private readonly int _redisDatabase = 1 + (Interlocked.Increment(ref _fixtures) % 15);

    public Uri BaseUrl => new($"http://127.0.0.1:{Port}");

    protected override int TokenDelayMs => 40;

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["FREESIDE_URLS"] = BaseUrl.ToString().TrimEnd('/');
        settings["FREESIDE_MANAGEMENT_URLS"] = $"http://127.0.0.1:{FinnStubProcess.FreePort()}";
        settings["REDIS_URL"] = TestEnvironment.RedisUrl is { } redis ? $"{redis.TrimEnd('/')}/{_redisDatabase}" : null;
        settings["WEBCHAT_IDLE_SECONDS"] = "8";
        settings["WEBCHAT_FRAME_BURST"] = "20";
        settings["WEBCHAT_FRAMES_PER_MINUTE"] = "60";
        return settings;
    }

    protected override void Configure(WebApplicationFactory<Program> factory) => factory.UseKestrel();

    // The factory's own client would talk to the last address Kestrel reports: the management listener.
    public override HttpClient CreateClient() => new() { BaseAddress = BaseUrl };

    /// <summary>A SIWE sign-in whose domain is the Kestrel address the client talks to.</summary>
    public async Task<string> SessionAsync(TestWallet wallet)
    {
        using var client = new HttpClient { BaseAddress = BaseUrl };
        var nonce = (await client.GetFromJsonAsync<JsonElement>("/api/v1/auth/nonce")).GetProperty("nonce").GetString()!;
        var message = wallet.Message(nonce, domain: BaseUrl.Authority);
        var response = await client.PostAsJsonAsync("/api/v1/auth/siwe", new { message, signature = wallet.Sign(message) });
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    public Uri SocketUrl(string slug, string token, int? port = null) => new($"ws://127.0.0.1:{port ?? Port}/chat/{slug}/{token}/ws");

    public async Task<TestSocket> ConnectAsync(string slug, string token, string? cookieSession, string? origin = null, int? port = null)
    {
        var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        if (cookieSession is not null)
        {
            ws.Options.SetRequestHeader("Cookie", "freeside_session=" + cookieSession);
        }

        if (origin is not null)
        {
            ws.Options.SetRequestHeader("Origin", origin);
        }

        await ws.ConnectAsync(SocketUrl(slug, token, port), CancellationToken.None);
        return new TestSocket(ws);
    }
}

/// <summary>A client socket that reads whole JSON messages, or the close that ended it.</summary>
public sealed class TestSocket(ClientWebSocket ws) : IDisposable
{
    public ClientWebSocket Socket => ws;

    public Task SendAsync(object message) => SendTextAsync(JsonSerializer.Serialize(message));

    public Task SendTextAsync(string text) =>
        ws.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>The next message, or null once the server closed (see <see cref="CloseStatus"/>).</summary>
    public async Task<JsonElement?> ReceiveAsync(TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(60));
        var buffer = new byte[64 * 1024];
        var length = 0;
        while (true)
        {
            ValueWebSocketReceiveResult received;
            try
            {
                received = await ws.ReceiveAsync(buffer.AsMemory(length), timeout.Token);
            }
            catch (WebSocketException)
            {
                return null;
            }

            if (received.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            length += received.Count;
            if (received.EndOfMessage)
            {
                return JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
            }
        }
    }

    /// <summary>Reads until the server closes; the messages seen on the way.</summary>
    public async Task<List<JsonElement>> ReadToCloseAsync()
    {
        var seen = new List<JsonElement>();
        while (await ReceiveAsync() is { } message)
        {
            seen.Add(message);
        }

        return seen;
    }

    /// <summary>Messages up to and including the first of type end or error.</summary>
    public async Task<List<JsonElement>> ReadChatAsync()
    {
        var seen = new List<JsonElement>();
        while (await ReceiveAsync() is { } message)
        {
            seen.Add(message);
            if (Type(message) is "end" or "error")
            {
                break;
            }
        }

        return seen;
    }

    public int? CloseStatus => (int?)ws.CloseStatus;

    public static string? Type(JsonElement message) => message.GetProperty("type").GetString();

    public void Dispose() => ws.Dispose();
}
