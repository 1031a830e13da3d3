using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Inference;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;

namespace Freeside.Tests.WebChat;

/// <summary>Issue 12: the page, the widget, the viewer's state, history across surfaces, and the socket's softer rules.</summary>
public sealed class WebChatPageTests(WebChatApp app) : IClassFixture<WebChatApp>
{
    private const string Slug = "web-page";

    private async Task SeedAsync() => await ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection);

    private HttpClient Signed(string session)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", session);
        return client;
    }

    [Fact]
    public async Task Page_FrameAncestorsFollowTheCommunitysAllowlist_AssetsAreImmutable()
    {
        await SeedAsync();
        var client = app.CreateClient();

        var before = await client.GetAsync($"/chat/{Slug}/1");
        var set = await app.CreateAdminClient().PutAsJsonAsync($"/api/v1/communities/{Slug}/webchat-settings",
            new { allowed_origins = new[] { "https://Fans.example", "http://localhost:8080" } });
        var after = await client.GetAsync($"/chat/{Slug}/1");
        var html = await after.Content.ReadAsStringAsync();
        var script = System.Text.RegularExpressions.Regex.Match(html, "src=\"(/webchat/[0-9a-f]{16}/chat.js)\"").Groups[1].Value;
        var asset = await client.GetAsync(script);

        before.StatusCode.ShouldBe(HttpStatusCode.OK);
        before.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        before.Headers.GetValues("Content-Security-Policy").Single().ShouldEndWith("frame-ancestors 'self'");
        set.StatusCode.ShouldBe(HttpStatusCode.OK, await set.Content.ReadAsStringAsync());
        after.Headers.GetValues("Content-Security-Policy").Single().ShouldEndWith("frame-ancestors 'self' https://fans.example http://localhost:8080");
        after.Headers.GetValues("Content-Security-Policy").Single().ShouldContain("script-src 'self'");
        html.ShouldContain("data-slug=\"web-page\"");
        asset.StatusCode.ShouldBe(HttpStatusCode.OK);
        asset.Headers.CacheControl!.ToString().ShouldBe("public, max-age=31536000, immutable");
        (await client.GetAsync($"/chat/no-such-community/1")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await client.GetAsync($"/webchat/0000000000000000/chat.js")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Widget_VersionedIsImmutable_AliasIsShortCached_EtagAnswers304()
    {
        var client = app.CreateClient();

        var versioned = await client.GetAsync("/widget/v1/widget.js");
        var alias = await client.GetAsync("/widget.js");
        using var conditional = new HttpRequestMessage(HttpMethod.Get, "/widget.js");
        conditional.Headers.TryAddWithoutValidation("If-None-Match", versioned.Headers.ETag!.ToString());
        var revalidated = await client.SendAsync(conditional);

        versioned.StatusCode.ShouldBe(HttpStatusCode.OK);
        versioned.Content.Headers.ContentType!.MediaType.ShouldBe("text/javascript");
        versioned.Headers.CacheControl!.ToString().ShouldBe("public, max-age=31536000, immutable");
        alias.Headers.CacheControl!.ToString().ShouldBe("public, max-age=300");
        (await alias.Content.ReadAsStringAsync()).ShouldBe(await versioned.Content.ReadAsStringAsync());
        (await alias.Content.ReadAsStringAsync()).ShouldContain("data-freeside-widget");
        revalidated.StatusCode.ShouldBe(HttpStatusCode.NotModified);
    }

    [Theory]
    [InlineData("https://fans.example/path")]
    [InlineData("https://*.example")]
    [InlineData("ftp://fans.example")]
    [InlineData("fans.example")]
    public async Task Settings_NotAnOrigin_Is400AndNothingWritten(string origin)
    {
        await SeedAsync();

        var response = await app.CreateAdminClient().PutAsJsonAsync($"/api/v1/communities/{Slug}/webchat-settings", new { allowed_origins = new[] { origin } });

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, await response.Content.ReadAsStringAsync());
        (await response.Content.ReadAsStringAsync()).ShouldContain("allowed_origins");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM webchat_settings WHERE @o = ANY (allowed_origins)", ("o", origin))).ShouldBe(0);
    }

    [Fact]
    public async Task Settings_HolderWhoIsNotAdmin_Is403_SignedOutIs401()
    {
        await SeedAsync();

        var holder = await Signed(await app.SessionAsync(TestWallet.Demo)).PutAsJsonAsync($"/api/v1/communities/{Slug}/webchat-settings",
            new { allowed_origins = new[] { "https://evil.example" } });
        var anonymous = await app.CreateClient().PutAsJsonAsync($"/api/v1/communities/{Slug}/webchat-settings",
            new { allowed_origins = new[] { "https://evil.example" } });

        holder.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        anonymous.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task State_SignedOutHolderAndNonHolder_EachSeeTheirMode()
    {
        await SeedAsync();

        var signedOut = await app.CreateClient().GetFromJsonAsync<JsonElement>($"/api/v1/webchat/{Slug}/1/state");
        var holder = await Signed(await app.SessionAsync(TestWallet.Demo)).GetFromJsonAsync<JsonElement>($"/api/v1/webchat/{Slug}/1/state");
        var other = await Signed(await app.SessionAsync(TestWallet.Deployer)).GetFromJsonAsync<JsonElement>($"/api/v1/webchat/{Slug}/1/state");

        signedOut.GetProperty("mode").GetString().ShouldBe("signed_out");
        signedOut.GetProperty("balance_micro").ValueKind.ShouldBe(JsonValueKind.Null);
        holder.GetProperty("mode").GetString().ShouldBe("holder");
        holder.GetProperty("balance_micro").GetInt64().ShouldBe(await ChatHttp.AvailableAsync(app, Slug));
        other.GetProperty("mode").GetString().ShouldBe("read_only");
        other.GetProperty("reason").GetString()!.ShouldContain("belongs to another wallet");
        other.GetProperty("balance_micro").ValueKind.ShouldBe(JsonValueKind.Null);
        (await app.CreateClient().GetAsync($"/api/v1/webchat/{Slug}/9999/state")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task History_ShowsEverySurfacesMessagesWithTheirSource_PagedNewestFirst()
    {
        await SeedAsync();
        var community = (await app.Database.ScalarAsync<Guid>("SELECT id FROM communities WHERE slug = @s", ("s", Slug)));
        var nft = Freeside.Features.Identity.S2S.S2SJwtSigner.NftId(31337, app.Chain.Collection.ToLowerInvariant(), "8");
        var wallet = TestWallet.Demo.Address.ToChecksumString().ToLowerInvariant();
        var at = DateTimeOffset.UtcNow.AddMinutes(-10);
        var rows = new[] { ("discord", "user", "from discord"), ("discord", "assistant", "discord answer"), ("telegram", "user", "from telegram"), ("web", "user", "from web") }
            .Select((r, i) => new AgentMessage
            {
                Id = Guid.NewGuid(), ConversationId = Guid.NewGuid(), NftId = nft, CommunityId = community, Source = r.Item1, AuthorWallet = wallet,
                Role = r.Item2, Content = r.Item3, CreatedAt = at.AddSeconds(i),
            }).ToList();
        (await app.SendAsync(new RecordExchange.Command(community, rows))).IsSuccess.ShouldBeTrue();
        var owner = Signed(await app.SessionAsync(TestWallet.Demo));

        var first = await owner.GetFromJsonAsync<JsonElement>($"/api/v1/webchat/{Slug}/8/history?limit=3");
        var next = first.GetProperty("next_before").GetString();
        var second = await owner.GetFromJsonAsync<JsonElement>($"/api/v1/webchat/{Slug}/8/history?limit=3&before={next}");
        var seen = first.GetProperty("messages").EnumerateArray().Concat(second.GetProperty("messages").EnumerateArray())
            .Select(m => m.GetProperty("source").GetString() + ":" + m.GetProperty("content").GetString()).ToList();

        seen.ShouldBe(["web:from web", "telegram:from telegram", "discord:discord answer", "discord:from discord"]);
        second.GetProperty("next_before").ValueKind.ShouldBe(JsonValueKind.Null);
        (await Signed(await app.SessionAsync(TestWallet.Deployer)).GetAsync($"/api/v1/webchat/{Slug}/8/history")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await app.CreateClient().GetAsync($"/api/v1/webchat/{Slug}/8/history")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Socket_MessageOver2000Characters_IsAnErrorAndTheSocketStaysOpen()
    {
        await SeedAsync();
        var reservations = await ChatHttp.ReservationsAsync(app);
        using var socket = await app.ConnectAsync(Slug, "1", await app.SessionAsync(TestWallet.Demo));
        (await socket.ReceiveAsync()).ShouldNotBeNull();

        await socket.SendAsync(new { type = "chat", message = new string('x', 2001) });
        var error = (await socket.ReceiveAsync())!.Value;
        await socket.SendAsync(new { type = "ping" });
        var pong = (await socket.ReceiveAsync())!.Value;

        TestSocket.Type(error).ShouldBe("error");
        error.GetProperty("code").GetString().ShouldBe("validation-failed");
        error.GetProperty("message").GetString()!.ShouldContain("2000");
        TestSocket.Type(pong).ShouldBe("pong");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
    }

    [Fact]
    public async Task Socket_NonHolder_GetsAForbiddenErrorAndNothingIsReserved()
    {
        await SeedAsync();
        var reservations = await ChatHttp.ReservationsAsync(app);
        using var socket = await app.ConnectAsync(Slug, "1", await app.SessionAsync(TestWallet.Third));
        (await socket.ReceiveAsync()).ShouldNotBeNull();

        await socket.SendAsync(new { type = "chat", message = "not mine" });
        var error = (await socket.ReceiveAsync())!.Value;

        TestSocket.Type(error).ShouldBe("error");
        error.GetProperty("code").GetString().ShouldBe("forbidden");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
    }

    [Fact]
    public async Task Socket_SecondTabOfTheSameWallet_SeesTheChatLive()
    {
        await SeedAsync();
        using var typing = await app.ConnectAsync(Slug, "4", await app.SessionAsync(TestWallet.Demo));
        using var watching = await app.ConnectAsync(Slug, "4", await app.SessionAsync(TestWallet.Demo));
        (await typing.ReceiveAsync()).ShouldNotBeNull();
        (await watching.ReceiveAsync()).ShouldNotBeNull();

        await typing.SendAsync(new { type = "chat", message = "seen in both tabs" });
        var sent = await typing.ReadChatAsync();
        var mirrored = await watching.ReadChatAsync();

        TestSocket.Type(mirrored[0]).ShouldBe("user");
        mirrored[0].GetProperty("message").GetString().ShouldBe("seen in both tabs");
        mirrored.Skip(1).Select(m => m.ToString()).ShouldBe(sent.Select(m => m.ToString()));
    }

    [Fact]
    public async Task Socket_Idle_ClosedWith4408()
    {
        await SeedAsync();
        using var socket = await app.ConnectAsync(Slug, "1", await app.SessionAsync(TestWallet.Demo));

        var seen = await socket.ReadToCloseAsync();

        TestSocket.Type(seen.Single()).ShouldBe("welcome");
        socket.CloseStatus.ShouldBe(4408);
    }
}
