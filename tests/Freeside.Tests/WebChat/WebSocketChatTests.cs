using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;

namespace Freeside.Tests.WebChat;

/// <summary>Issue 12: the chat socket against real Kestrel, the finn stand-in process and an anvil chain.</summary>
public sealed class WebSocketChatTests(WebChatApp app) : IClassFixture<WebChatApp>
{
    private const string Slug = "web-pro";

    private async Task SeedAsync() => await ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection);

    private static string Type(JsonElement message) => TestSocket.Type(message)!;

    [Fact]
    public async Task Socket_HolderWithCookie_StreamsStartTokensEndAndIsChargedLikeHttp()
    {
        await SeedAsync();
        var before = await ChatHttp.AvailableAsync(app, Slug);
        using var socket = await app.ConnectAsync(Slug, "1", await app.SessionAsync(TestWallet.Demo));

        var welcome = (await socket.ReceiveAsync())!.Value;
        await socket.SendAsync(new { type = "chat", message = "hello over the socket" });
        var chat = await socket.ReadChatAsync();

        Type(welcome).ShouldBe("welcome");
        welcome.GetProperty("wallet").GetString().ShouldBe(TestWallet.Demo.Address.ToChecksumString());
        Type(chat[0]).ShouldBe("start");
        chat[0].GetProperty("pool").GetString().ShouldBe("reviewer");
        chat[0].GetProperty("personality_id").GetString().ShouldStartWith("pers_");
        Type(chat[^1]).ShouldBe("end", chat[^1].ToString());
        chat.Skip(1).SkipLast(1).ShouldAllBe(m => TestSocket.Type(m) == "token");
        chat.Count.ShouldBeGreaterThan(2);
        var cost = chat[^1].GetProperty("cost_micro").GetInt64();
        var after = await ChatHttp.AvailableAsync(app, Slug);
        (before - after).ShouldBe(cost);
        chat[^1].GetProperty("balance_micro").GetInt64().ShouldBe(after);
        var conversation = chat[0].GetProperty("conversation_id").GetGuid();
        (await app.Database.ScalarAsync<string>(
            "SELECT string_agg(role || ':' || source, ',' ORDER BY created_at) FROM agent_messages WHERE conversation_id = @c", ("c", conversation)))
            .ShouldBe("user:web,assistant:web");
        (await ChatHttp.PendingHoldsAsync(app)).ShouldBe(0);
        await ChatHttp.ConservationHoldsAsync(app, Slug);

        await socket.SendAsync(new { type = "chat", message = "and a follow-up", conversation_id = conversation });
        var second = await socket.ReadChatAsync();
        second[0].GetProperty("conversation_id").GetGuid().ShouldBe(conversation);
        Type(second[^1]).ShouldBe("end");
    }

    [Fact]
    public async Task Socket_NoCookie_AuthenticatesWithTheFirstMessage()
    {
        await SeedAsync();
        using var socket = await app.ConnectAsync(Slug, "1", cookieSession: null);

        await socket.SendAsync(new { type = "auth", token = await app.SessionAsync(TestWallet.Demo) });
        var welcome = (await socket.ReceiveAsync())!.Value;
        await socket.SendAsync(new { type = "ping" });
        var pong = (await socket.ReceiveAsync())!.Value;

        Type(welcome).ShouldBe("welcome");
        Type(pong).ShouldBe("pong");
    }

    [Theory]
    [InlineData("no-session", 4401)]
    [InlineData("bad-token", 4401)]
    [InlineData("oversized-frame", 1009)]
    [InlineData("bad-json", 1007)]
    [InlineData("unknown-type", 1007)]
    [InlineData("binary", 1003)]
    [InlineData("flood", 1008)]
    public async Task Socket_Abuse_ClosedWithItsCodeAndNothingCharged(string abuse, int expected)
    {
        await SeedAsync();
        var reservations = await ChatHttp.ReservationsAsync(app);
        var signedIn = abuse is not ("no-session" or "bad-token");
        using var socket = await app.ConnectAsync(Slug, "1", signedIn ? await app.SessionAsync(TestWallet.Demo) : null);
        if (signedIn)
        {
            Type((await socket.ReceiveAsync())!.Value).ShouldBe("welcome");
        }

        switch (abuse)
        {
            case "no-session":
                await socket.SendAsync(new { type = "chat", message = "hi" });
                break;
            case "bad-token":
                await socket.SendAsync(new { type = "auth", token = "eyJhbGciOiJub25lIn0.e30." });
                break;
            case "oversized-frame":
                await socket.SendAsync(new { type = "chat", message = new string('x', 4100) });
                break;
            case "bad-json":
                await socket.SendTextAsync("{\"type\":\"chat\",");
                break;
            case "unknown-type":
                await socket.SendAsync(new { type = "shutdown" });
                break;
            case "binary":
                await socket.Socket.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, CancellationToken.None);
                break;
            case "flood":
                for (var i = 0; i < 40 && socket.Socket.State == WebSocketState.Open; i++)
                {
                    try
                    {
                        await socket.SendAsync(new { type = "ping" });
                    }
                    catch (WebSocketException)
                    {
                        break;
                    }
                }

                break;
        }

        var seen = await socket.ReadToCloseAsync();

        socket.CloseStatus.ShouldBe(expected, string.Join(" ", seen));
        seen.ShouldNotContain(m => TestSocket.Type(m) == "start");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
    }

    [Fact]
    public async Task Socket_WrongOrigin_RefusedAtTheHandshake_AllowedOriginAccepted()
    {
        await SeedAsync();
        var session = await app.SessionAsync(TestWallet.Demo);

        var refused = await Should.ThrowAsync<WebSocketException>(() => app.ConnectAsync(Slug, "1", session, origin: "http://evil.example"));
        var self = await app.ConnectAsync(Slug, "1", session, origin: app.BaseUrl.ToString().TrimEnd('/'));
        var set = await app.CreateAdminClient().PutAsJsonAsync($"/api/v1/communities/{Slug}/webchat-settings",
            new { allowed_origins = new[] { "https://fans.example" } });
        var embedded = await app.ConnectAsync(Slug, "1", session, origin: "https://fans.example");

        refused.Message.ShouldContain("403");
        Type((await self.ReceiveAsync())!.Value).ShouldBe("welcome");
        set.StatusCode.ShouldBe(HttpStatusCode.OK, await set.Content.ReadAsStringAsync());
        Type((await embedded.ReceiveAsync())!.Value).ShouldBe("welcome");
        self.Dispose();
        embedded.Dispose();
    }

    [Fact]
    public async Task Socket_FourthOfOneWallet_ClosedWith4429_AndASeatFreesWhenOneCloses()
    {
        await SeedAsync();
        var sockets = new List<TestSocket>();
        for (var i = 0; i < 3; i++)
        {
            // Three sessions of one wallet: the limit is the wallet's, not the session's.
            var socket = await app.ConnectAsync(Slug, "4", await app.SessionAsync(TestWallet.Demo));
            Type((await socket.ReceiveAsync())!.Value).ShouldBe("welcome");
            sockets.Add(socket);
        }

        using var fourth = await app.ConnectAsync(Slug, "8", await app.SessionAsync(TestWallet.Demo));
        var seen = await fourth.ReadToCloseAsync();
        await sockets[0].Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        using var fifth = await ConnectWhenSeatFreeAsync();

        fourth.CloseStatus.ShouldBe(4429);
        seen.ShouldBeEmpty();
        sockets.ForEach(s => s.Dispose());
    }

    private async Task<TestSocket> ConnectWhenSeatFreeAsync()
    {
        // The seat is released when the server finishes the closed socket, which the client cannot observe directly.
        for (var attempt = 0; ; attempt++)
        {
            var socket = await app.ConnectAsync(Slug, "8", await app.SessionAsync(TestWallet.Demo));
            if (await socket.ReceiveAsync() is { } welcome && TestSocket.Type(welcome) == "welcome")
            {
                return socket;
            }

            socket.Dispose();
            attempt.ShouldBeLessThan(50);
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Socket_DroppedMidStream_ChargedAsPartialCompletion()
    {
        await SeedAsync();
        var before = await ChatHttp.AvailableAsync(app, Slug);
        var socket = await app.ConnectAsync(Slug, "1", await app.SessionAsync(TestWallet.Demo));
        Type((await socket.ReceiveAsync())!.Value).ShouldBe("welcome");

        await socket.SendAsync(new { type = "chat", message = "drop me halfway" });
        var start = (await socket.ReceiveAsync())!.Value;
        Type(start).ShouldBe("start");
        var conversation = start.GetProperty("conversation_id").GetGuid();
        Type((await socket.ReceiveAsync())!.Value).ShouldBe("token");
        socket.Socket.Abort();
        socket.Dispose();

        // The chat service settles after the socket is gone; the stored turn is its last step.
        var shown = await WaitForAsync(() => app.Database.ScalarAsync<string>(
            "SELECT content FROM agent_messages WHERE conversation_id = @c AND role = 'assistant'", ("c", conversation)));
        var usage = await app.Database.ScalarAsync<string>(
            "SELECT billing_method || ':' || amount_micro FROM usage_events ORDER BY created_at DESC LIMIT 1");
        var charged = long.Parse(usage!.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);

        shown.ShouldNotBeNull();
        usage.ShouldStartWith("observed_chunks:");
        charged.ShouldBeGreaterThan(0);
        (before - await ChatHttp.AvailableAsync(app, Slug)).ShouldBe(charged);
        (await ChatHttp.PendingHoldsAsync(app)).ShouldBe(0);
        await ChatHttp.ConservationHoldsAsync(app, Slug);
    }

    private static async Task<T?> WaitForAsync<T>(Func<Task<T?>> probe)
    {
        for (var i = 0; i < 300; i++)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            await Task.Delay(100);
        }

        return default;
    }
}
