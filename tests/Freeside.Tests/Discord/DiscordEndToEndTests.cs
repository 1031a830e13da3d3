using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Discord;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;
using Freeside.Tests.Infrastructure;
using Freeside.DiscordFake;

namespace Freeside.Tests.Discord;

/// <summary>Freeside with finn's stand-in, anvil's demo collection and a fake Discord, gateway session included.</summary>
public sealed class DiscordChatApp : ChatApp
{
    public FakeDiscord Discord { get; private set; } = null!;

    protected override async Task BeforeStartAsync()
    {
        Discord = await FakeDiscord.StartAsync();
        await base.BeforeStartAsync();
    }

    protected override async Task AfterStopAsync()
    {
        await base.AfterStopAsync();
        await Discord.DisposeAsync();
    }

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["DISCORD_PUBLIC_KEY"] = Discord.PublicKeyHex;
        settings["DISCORD_APPLICATION_ID"] = FakeDiscord.ApplicationId;
        settings["DISCORD_BOT_TOKEN"] = FakeDiscord.BotToken;
        settings["DISCORD_API_URL"] = Discord.ApiUrl.ToString();
        settings["DISCORD_GATEWAY_URL"] = Discord.GatewayUrl.ToString();
        settings["DISCORD_QUEUE_RETRY_BASE_MS"] = "20";
        // Re-checked per message; a transfer must show at once in this test, not after the 60 s cache.
        settings["NFT_OWNERSHIP_CACHE_SECONDS"] = "0";
        return settings;
    }
}

public sealed partial class DiscordEndToEndTests(DiscordChatApp app) : IClassFixture<DiscordChatApp>
{
    private const string Slug = "disco";
    private const string Guild = "555000000000000007";
    private const string AgentChannel = "666000000000000007";
    private const string Holder = "777000000000000007";
    private const long AllPermissions = (1L << 16) | (1L << 34) | (1L << 35) | (1L << 36) | (1L << 38);
    private int _interactions;

    private async Task<string> InteractAsync(string name, string user, long permissions, params (string Name, string Value)[] options)
    {
        var token = "tok-" + Guid.NewGuid().ToString("N");
        var id = (880000000000000100 + Interlocked.Increment(ref _interactions)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var body = JsonNode.Parse(InteractionsTests.SlashCommand(name, id, token, Guild, options))!.AsObject();
        body["channel_id"] = AgentChannel;
        body["app_permissions"] = permissions.ToString(System.Globalization.CultureInfo.InvariantCulture);
        body["member"]!["user"]!["id"] = user;
        var bytes = System.Text.Encoding.UTF8.GetBytes(body.ToJsonString());
        var (timestamp, signature) = app.Discord.Sign(bytes);
        using var response = await InteractionsTests.PostAsync(app.CreateClient(), bytes, timestamp, signature);
        response.IsSuccessStatusCode.ShouldBeTrue();
        var path = $"webhooks/{FakeDiscord.ApplicationId}/{token}/messages/@original";
        await DiscordApp.EventuallyAsync(() => app.Discord.Requests.Any(r => r.Path == path && r.Status == 200), $"/{name} answered");
        return JsonDocument.Parse(app.Discord.Requests.Single(r => r.Path == path).Body).RootElement.GetProperty("content").GetString()!;
    }

    private async Task LinkAsync(string reply, TestWallet wallet)
    {
        var url = LinkUrl().Match(reply);
        url.Success.ShouldBeTrue(reply);
        var token = url.Groups[1].Value;
        var client = app.CreateClient();
        var nonce = await IdentityHttp.NonceAsync(client);
        var message = "localhost wants you to sign in with your Ethereum account:\n"
            + wallet.Address.ToChecksumString() + "\n\n"
            + "Link my Discord account to this wallet on Freeside.\n\n"
            + $"URI: http://localhost/link/{token}\nVersion: 1\nChain ID: 31337\nNonce: {nonce}\n"
            + $"Issued At: {SiweMessage.FormatTimestamp(DateTimeOffset.UtcNow)}\n"
            + $"Expiration Time: {SiweMessage.FormatTimestamp(DateTimeOffset.UtcNow.AddMinutes(10))}\n"
            + $"Request ID: {token}";
        var completed = await client.PostAsJsonAsync($"/api/v1/links/{token}", new { message, signature = wallet.Sign(message) });
        completed.IsSuccessStatusCode.ShouldBeTrue(await completed.Content.ReadAsStringAsync());
    }

    private static JsonObject Message(string id, string channel, string author, string content) => new()
    {
        ["id"] = id, ["channel_id"] = channel, ["guild_id"] = Guild, ["content"] = content,
        ["author"] = new JsonObject { ["id"] = author, ["username"] = "someone" },
    };

    [Fact]
    public async Task VerifyMyAgentChat_AgainstFakeDiscord_OneThreadStreamedReplyChargedOnceAndTransferStopsIt()
    {
        await ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection);
        (await app.CreateAdminClient().PutAsJsonAsync($"/api/v1/admin/communities/{Slug}/discord", new { guild_id = Guild, agent_channel_id = AgentChannel }))
            .IsSuccessStatusCode.ShouldBeTrue();

        (await InteractAsync("my-agent", Holder, AllPermissions, ("token_id", "1"))).ShouldContain("/verify");
        await LinkAsync(await InteractAsync("verify", Holder, AllPermissions), TestWallet.Demo);
        (await InteractAsync("my-agent", Holder, AllPermissions & ~(1L << 34), ("token_id", "1"))).ShouldContain("Manage Threads");

        (await InteractAsync("my-agent", Holder, AllPermissions, ("token_id", "1"))).ShouldContain("private thread");
        await DiscordApp.EventuallyAsync(() => app.Discord.Requests.Any(r => r.Path.StartsWith("channels/", StringComparison.Ordinal)
            && r.Path.EndsWith("/messages", StringComparison.Ordinal) && r.Body.Contains("this is your thread", StringComparison.Ordinal)), "the welcome in the thread",
            () => string.Join("\n", app.Discord.Requests.Select(r => $"{r.Method} {r.Path} {r.Status} {r.Body}"))
                + "\n" + app.Database.ScalarAsync<string>("SELECT string_agg(origin || ' ' || path || ' ' || status || ' ' || coalesce(last_error, ''), E'\n') FROM discord_writes").GetAwaiter().GetResult());
        var created = app.Discord.Requests.Single(r => r.Path == $"channels/{AgentChannel}/threads");
        JsonDocument.Parse(created.Body).RootElement.GetProperty("type").GetInt32().ShouldBe(12);
        var thread = await app.Database.ScalarAsync<string>("SELECT thread_id FROM discord_agent_threads WHERE holder_user_id = @u", ("u", Holder));
        thread.ShouldNotBeNull();
        app.Discord.Requests.ShouldContain(r => r.Method == "PUT" && r.Path == $"channels/{thread}/thread-members/{Holder}");

        (await InteractAsync("my-agent", Holder, AllPermissions, ("token_id", "1"))).ShouldContain($"<#{thread}>", Case.Sensitive);
        app.Discord.Requests.Count(r => r.Path.EndsWith("/threads", StringComparison.Ordinal)).ShouldBe(1);

        await app.Discord.GatewayServer.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        var before = await ChatHttp.AvailableAsync(app, Slug);
        var reservations = await ChatHttp.ReservationsAsync(app);

        await app.Discord.GatewayServer.DispatchAsync("MESSAGE_CREATE", Message("990000000000000001", thread, Holder, "hello agent"));
        await DiscordApp.EventuallyAsync(() => app.Database.ScalarAsync<long>("SELECT count(*) FROM agent_messages WHERE source = 'discord'").GetAwaiter().GetResult() == 2,
            "the exchange recorded");
        var assistant = await app.Database.ScalarAsync<string>("SELECT content FROM agent_messages WHERE source = 'discord' AND role = 'assistant'");
        assistant.ShouldNotBeNullOrEmpty();
        await DiscordApp.EventuallyAsync(() => app.Discord.Requests.Any(r => r.Method == "PATCH" && r.Path.StartsWith($"channels/{thread}/messages/", StringComparison.Ordinal)
            && JsonDocument.Parse(r.Body).RootElement.GetProperty("content").GetString() == assistant), "the reply's final edit");
        var after = await ChatHttp.AvailableAsync(app, Slug);
        after.ShouldBeLessThan(before);
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations + 1);

        // The same event again (a gateway replay), someone else in the thread, the bot itself: nothing more is charged.
        await app.Discord.GatewayServer.DispatchAsync("MESSAGE_CREATE", Message("990000000000000001", thread, Holder, "hello agent"));
        await app.Discord.GatewayServer.DispatchAsync("MESSAGE_CREATE", Message("990000000000000002", thread, "777000000000000999", "me too"));
        await app.Discord.GatewayServer.DispatchAsync("MESSAGE_CREATE", Message("990000000000000003", thread, Holder, "second question"));
        await DiscordApp.EventuallyAsync(() => app.Database.ScalarAsync<long>("SELECT count(*) FROM agent_messages WHERE source = 'discord'").GetAwaiter().GetResult() == 4,
            "the second question answered");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations + 2);
        (await app.Database.ScalarAsync<long>("SELECT count(DISTINCT conversation_id) FROM agent_messages WHERE source = 'discord'")).ShouldBe(1);

        try
        {
            await app.Chain.TransferAsync(TestWallet.Demo, app.Chain.Collection, TestWallet.Third.Address, 1);
        }
        catch (InvalidOperationException)
        {
            // On a loaded machine the receipt may not be there yet when asked; the transfer is sent, wait for it below.
        }

        await DiscordApp.EventuallyAsync(() => !app.SendAsync(new CheckHolder.Query(Slug, "1", TestWallet.Demo.Address)).GetAwaiter().GetResult().IsSuccess,
            "the transfer mined");
        await app.Discord.GatewayServer.DispatchAsync("MESSAGE_CREATE", Message("990000000000000004", thread, Holder, "still there?"));
        await DiscordApp.EventuallyAsync(() => app.Discord.Requests.Any(r => r.Path == $"channels/{thread}/messages" && r.Body.Contains("new holder", StringComparison.Ordinal)),
            "the transfer notice");
        await app.Discord.GatewayServer.DispatchAsync("MESSAGE_CREATE", Message("990000000000000005", thread, Holder, "hello?"));
        await app.Discord.GatewayServer.DispatchAsync("MESSAGE_CREATE", Message("990000000000000006", thread, Holder, "anyone?"));
        await DiscordApp.EventuallyAsync(() => app.Discord.GatewayServer.Heartbeats > 0, "the session alive");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations + 2);
        (await app.Database.ScalarAsync<string>("SELECT status FROM discord_agent_threads WHERE thread_id = @t", ("t", thread))).ShouldBe("revoked");
        app.Discord.Requests.Count(r => r.Body.Contains("new holder", StringComparison.Ordinal)).ShouldBe(1);
    }

    [GeneratedRegex(@"/link/([A-Za-z0-9_\-]+)")]
    private static partial Regex LinkUrl();
}
