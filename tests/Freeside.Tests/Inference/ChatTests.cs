using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Tests.Identity;
using Freeside.Tests.Identity.Ownership;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Inference;

/// <summary>Freeside with a finn stand-in process and an anvil chain holding the demo collection.</summary>
public class ChatApp : FreesideWithFinn
{
    public AnvilChain Chain { get; private set; } = null!;

    /// <summary>Tokens 1–3 of the demo collection are all one personality family; 4 and 8 are two others.</summary>
    public static readonly int[] ExtraTokens = [4, 8];

    protected override async Task BeforeStartAsync()
    {
        Chain = await AnvilChain.StartAsync();
        foreach (var token in ExtraTokens)
        {
            await MintAsync(Chain.Collection, TestWallet.Demo.Address, token);
        }
    }

    protected Task MintAsync(string contract, Freeside.Features.Common.Ethereum.EthereumAddress to, int tokenId) =>
        Chain.MintAsync(contract, to, tokenId);

    protected override Task AfterStopAsync() => Chain.DisposeAsync().AsTask();

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["CHAIN_RPC_URLS"] = $"31337={Chain.RpcUrl}";
        return settings;
    }
}

public sealed record SseEvent(string Name, JsonElement Data);

public static class ChatHttp
{
    public static async Task CommunityAsync(FreesideApp app, string slug, string collection, string level = "pro", long grantMicro = 10_000_000)
    {
        var admin = app.CreateAdminClient();
        var created = await admin.PostAsJsonAsync("/api/v1/admin/communities",
            new { slug, name = slug, chain_id = 31337, collection_address = collection, default_access_level = level });
        created.StatusCode.ShouldBeOneOf(HttpStatusCode.Created, HttpStatusCode.Conflict);
        if (grantMicro > 0)
        {
            var granted = await admin.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/grants",
                new { amount_micro = grantMicro, reason = "test", idempotency_key = "seed-" + slug });
            granted.IsSuccessStatusCode.ShouldBeTrue(await granted.Content.ReadAsStringAsync());
        }
    }

    public static async Task<HttpResponseMessage> ChatAsync(FreesideApp app, TestWallet? wallet, string slug, string token, object body)
    {
        var client = app.CreateClient();
        if (wallet is not null)
        {
            client.WithBearer(await IdentityHttp.SessionTokenAsync(app, wallet));
        }

        return await client.PostAsJsonAsync($"/api/v1/agents/{slug}/{token}/chat", body);
    }

    public static List<SseEvent> Events(string body) => [.. body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(frame =>
    {
        var lines = frame.Split('\n');
        var name = lines.Single(l => l.StartsWith("event: ", StringComparison.Ordinal))[7..];
        var data = lines.Single(l => l.StartsWith("data: ", StringComparison.Ordinal))[6..];
        return new SseEvent(name, JsonDocument.Parse(data).RootElement.Clone());
    })];

    public static async Task<long> AvailableAsync(FreesideApp app, string slug)
    {
        var balance = await app.CreateAdminClient().GetFromJsonAsync<JsonElement>($"/api/v1/communities/{slug}/balance");
        return balance.GetProperty("available_micro").GetInt64();
    }

    public static Task<long> PendingHoldsAsync(FreesideApp app) =>
        app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_reservations WHERE status = 'pending'");

    public static Task<long> ReservationsAsync(FreesideApp app) =>
        app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_reservations");

    public static async Task ConservationHoldsAsync(FreesideApp app, string slug)
    {
        var report = await (await app.CreateAdminClient().GetAsync($"/api/v1/admin/community/{slug}/conservation")).Content.ReadFromJsonAsync<JsonElement>();
        report.GetProperty("status").GetString().ShouldBe("ok", report.ToString());
    }
}

public sealed class ChatTests(ChatApp app) : IClassFixture<ChatApp>
{
    private const string Slug = "chat-pro";

    private async Task SeedAsync() => await ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection);

    [Fact]
    public async Task Chat_Owner_StreamsStartTokensEndAndChargesFinnsCost()
    {
        await SeedAsync();
        var before = await ChatHttp.AvailableAsync(app, Slug);

        var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "1", new { message = "hello agent" });

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/event-stream");
        var events = ChatHttp.Events(await response.Content.ReadAsStringAsync());
        events[0].Name.ShouldBe("start");
        events[^1].Name.ShouldBe("end");
        events.Skip(1).SkipLast(1).ShouldAllBe(e => e.Name == "token");
        var pool = response.Headers.GetValues("X-Pool-Used").Single();
        events[0].Data.GetProperty("pool").GetString().ShouldBe(pool);
        events[0].Data.GetProperty("personality_id").GetString().ShouldBe(response.Headers.GetValues("X-Personality-Id").Single());
        var end = events[^1].Data;
        var cost = end.GetProperty("cost_micro").GetInt64();
        end.GetProperty("usage").GetProperty("completion_tokens").GetInt64().ShouldBe(24);
        var after = await ChatHttp.AvailableAsync(app, Slug);
        (before - after).ShouldBe(cost);
        end.GetProperty("balance_micro").GetInt64().ShouldBe(after);
        (await ChatHttp.PendingHoldsAsync(app)).ShouldBe(0);
        (await app.Database.ScalarAsync<long>("SELECT coalesce(sum(amount_micro), 0) FROM usage_events")).ShouldBe(
            await app.Database.ScalarAsync<long>("SELECT coalesce(sum(charged), 0) FROM credit_reservations WHERE status = 'finalized'"));
        await ChatHttp.ConservationHoldsAsync(app, Slug);
    }

    [Fact]
    public async Task Chat_TwoNftsOfOneTier_GetDifferentPoolsAndPersonalities()
    {
        await SeedAsync();
        var seen = new Dictionary<string, (string Pool, string Personality)>();
        foreach (var token in new[] { "1", "4", "8" })
        {
            var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, token, new { message = "hi" });
            response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            seen[token] = (response.Headers.GetValues("X-Pool-Used").Single(), response.Headers.GetValues("X-Personality-Id").Single());
        }

        // Same tier (pro), three personalities, three pools: finn orders the tier's pools by each one's affinity.
        seen.Values.Select(s => s.Personality).Distinct().Count().ShouldBe(3);
        seen.Values.Select(s => s.Pool).ShouldBe(["reviewer", "fast-code", "cheap"]);
    }

    [Theory]
    [InlineData("non-owner", HttpStatusCode.Forbidden)]
    [InlineData("signed-out", HttpStatusCode.Unauthorized)]
    [InlineData("unknown-token", HttpStatusCode.NotFound)]
    [InlineData("too-long", HttpStatusCode.BadRequest)]
    [InlineData("pool-outside-tier", HttpStatusCode.Forbidden)]
    [InlineData("unknown-community", HttpStatusCode.NotFound)]
    public async Task Chat_Refused_AnswersProblemAndReservesNothing(string case_, HttpStatusCode expected)
    {
        await SeedAsync();
        var reservations = await ChatHttp.ReservationsAsync(app);

        var response = case_ switch
        {
            "non-owner" => await ChatHttp.ChatAsync(app, TestWallet.Deployer, Slug, "1", new { message = "hi" }),
            "signed-out" => await ChatHttp.ChatAsync(app, null, Slug, "1", new { message = "hi" }),
            "unknown-token" => await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "9999", new { message = "hi" }),
            "too-long" => await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "1", new { message = new string('x', 8 * 1024 + 1) }),
            "pool-outside-tier" => await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "1", new { message = "hi", pool = "architect" }),
            _ => await ChatHttp.ChatAsync(app, TestWallet.Demo, "no-such-community", "1", new { message = "hi" }),
        };

        response.StatusCode.ShouldBe(expected, await response.Content.ReadAsStringAsync());
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
    }

    [Fact]
    public async Task Chat_FollowUp_StoresBothTurnsInTheConversation()
    {
        await SeedAsync();
        var first = ChatHttp.Events(await (await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "1", new { message = "first question" })).Content.ReadAsStringAsync());
        var conversation = first[0].Data.GetProperty("conversation_id").GetGuid();

        var second = await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "1", new { message = "second question", conversation_id = conversation });

        ChatHttp.Events(await second.Content.ReadAsStringAsync())[0].Data.GetProperty("conversation_id").GetGuid().ShouldBe(conversation);
        (await app.Database.ScalarAsync<string>(
            "SELECT string_agg(role || ':' || left(content, 15), '|' ORDER BY created_at) FROM agent_messages WHERE conversation_id = @c", ("c", conversation)))
            .ShouldBe("user:first question|assistant:the quiet signa|user:second question|assistant:the quiet signa");
        (await app.Database.ScalarAsync<long>(
            "SELECT count(*) FROM agent_messages WHERE conversation_id = @c AND role = 'assistant' AND cost_micro > 0 AND source = 'web'", ("c", conversation)))
            .ShouldBe(2);
    }

    [Fact]
    public async Task Conversations_Owner_ListsAndPagesMessagesNewestFirst()
    {
        await SeedAsync();
        var first = ChatHttp.Events(await (await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "4", new { message = "page one" })).Content.ReadAsStringAsync());
        var conversation = first[0].Data.GetProperty("conversation_id").GetGuid();
        await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "4", new { message = "page two", conversation_id = conversation });
        var owner = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo));

        var list = await owner.GetFromJsonAsync<JsonElement>($"/api/v1/agents/{Slug}/4/conversations");
        var mine = list.EnumerateArray().Single(c => c.GetProperty("conversation_id").GetGuid() == conversation);
        mine.GetProperty("messages").GetInt32().ShouldBe(4);

        var contents = new List<string>();
        string? before = null;
        for (var page = 0; page < 10; page++)
        {
            var body = await owner.GetFromJsonAsync<JsonElement>(
                $"/api/v1/agents/{Slug}/4/conversations/{conversation}/messages?limit=3" + (before is null ? "" : "&before=" + before));
            contents.AddRange(body.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("role").GetString() + ":" + m.GetProperty("content").GetString()![..6]));
            if (body.GetProperty("next_before").ValueKind == JsonValueKind.Null)
            {
                break;
            }

            before = body.GetProperty("next_before").GetString();
        }

        contents.ShouldBe(["assistant:the qu", "user:page t", "assistant:the qu", "user:page o"]);
        var stranger = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Deployer));
        (await stranger.GetAsync($"/api/v1/agents/{Slug}/4/conversations")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await stranger.GetAsync($"/api/v1/agents/{Slug}/4/conversations/{conversation}/messages")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await app.CreateClient().GetAsync($"/api/v1/agents/{Slug}/4/conversations")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Profile_ExistingToken_ShowsFinnsSafeFieldsAndIsCached()
    {
        await SeedAsync();
        var client = app.CreateClient();

        var first = await client.GetAsync($"/api/v1/agents/{Slug}/8");
        var sent = app.Wire.Sent;
        var second = await client.GetAsync($"/api/v1/agents/{Slug}/8");

        first.StatusCode.ShouldBe(HttpStatusCode.OK, await first.Content.ReadAsStringAsync());
        var body = await first.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("personality_id").GetString().ShouldStartWith("pers_");
        body.GetProperty("display_name").GetString().ShouldNotBeNullOrEmpty();
        new[] { "fire", "water", "earth", "air" }.ShouldContain(body.GetProperty("element").GetString());
        var text = (await second.Content.ReadAsStringAsync()).ToLowerInvariant();
        text.ShouldBe((await first.Content.ReadAsStringAsync()).ToLowerInvariant());
        foreach (var term in new[] { "milady", "freetekno", "acidhouse", "chicago", "archetype", "persona\"" })
        {
            text.ShouldNotContain(term);
        }

        app.Wire.Sent.ShouldBe(sent);
    }

    [Fact]
    public async Task Profile_TokenNotOnChain_Is404()
    {
        await SeedAsync();

        var response = await app.CreateClient().GetAsync($"/api/v1/agents/{Slug}/9999");

        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await app.CreateClient().GetAsync($"/api/v1/agents/{Slug}/not-a-number")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Chat_DailyCapPerWallet_RefusesTheChatThatCouldPassIt()
    {
        await ChatHttp.CommunityAsync(app, "capped", app.Chain.Collection);
        // Token 1 lands on reviewer: a hold of 5,123 for "hi", a charge of 242.
        var set = await app.CreateAdminClient().PutAsJsonAsync("/api/v1/communities/capped/agent-settings", new { daily_cap_per_wallet_micro = 5_400 });
        set.StatusCode.ShouldBe(HttpStatusCode.OK, await set.Content.ReadAsStringAsync());
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, "capped", "1", new { message = "hi" });
            statuses.Add(response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.PaymentRequired)
            {
                body.ShouldContain("daily-cap-reached");
            }
        }

        statuses.ShouldBe([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.PaymentRequired]);
        var notAdmin = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo));
        (await notAdmin.PutAsJsonAsync("/api/v1/communities/capped/agent-settings", new { daily_cap_per_wallet_micro = 9_999_999 }))
            .StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await app.CreateAdminClient().PutAsJsonAsync("/api/v1/communities/capped/agent-settings", new { daily_cap_per_wallet_micro = -1 }))
            .StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Chat_EnsembleWhileEnsemblesAreOff_Is400EnsembleNotAvailableAndReservesNothing()
    {
        await SeedAsync();
        var reservations = await ChatHttp.ReservationsAsync(app);

        var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "1", new { message = "hi", ensemble = new { strategy = "best_of_n", n = 2 } });

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain("ENSEMBLE_ENABLED=false");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
    }

    [Fact]
    public async Task Chat_UnknownConversation_Is404AndReservesNothing()
    {
        await SeedAsync();
        var reservations = await ChatHttp.ReservationsAsync(app);

        var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "1", new { message = "hi", conversation_id = Guid.NewGuid() });

        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
    }

    [Fact]
    public async Task Chat_BalanceTooLow_Is402AndReservesNothing()
    {
        await ChatHttp.CommunityAsync(app, "chat-poor", app.Chain.Collection, grantMicro: 0);
        var reservations = await ChatHttp.ReservationsAsync(app);

        var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, "chat-poor", "1", new { message = "hi" });

        response.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired, await response.Content.ReadAsStringAsync());
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
    }

    [Theory]
    [InlineData("abort-after:5")]
    [InlineData("error-event-after:5")]
    [InlineData("no-usage")]
    public async Task Chat_PartialStream_ChargesObservedChunksWithinTheHold(string fault)
    {
        await SeedAsync();
        var before = await ChatHttp.AvailableAsync(app, Slug);

        HttpResponseMessage response;
        app.Wire.Fault = fault;
        try
        {
            response = await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "2", new { message = "hello agent" });
        }
        finally
        {
            app.Wire.Fault = null;
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            // The reset overtook stream_start: no stream, so nothing may be charged.
            response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            (await ChatHttp.AvailableAsync(app, Slug)).ShouldBe(before);
            (await ChatHttp.PendingHoldsAsync(app)).ShouldBe(0);
            return;
        }

        var events = ChatHttp.Events(await response.Content.ReadAsStringAsync());
        events[^1].Name.ShouldBe("error");
        var delivered = string.Concat(events.Where(e => e.Name == "token").Select(e => e.Data.GetProperty("text").GetString()));
        var row = await app.Database.ScalarAsync<string>(
            "SELECT billing_method || ' ' || amount_micro || ' ' || requested_micro FROM usage_events ORDER BY created_at DESC LIMIT 1");
        var parts = row!.Split(' ');
        parts[0].ShouldBe("observed_chunks");
        var charged = long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        (before - await ChatHttp.AvailableAsync(app, Slug)).ShouldBe(charged);
        var held = await app.Database.ScalarAsync<long>("SELECT held FROM credit_reservations ORDER BY created_at DESC LIMIT 1");
        charged.ShouldBeLessThanOrEqualTo(held);
        if (delivered.Length > 0)
        {
            charged.ShouldBeGreaterThan(0);
        }

        (await ChatHttp.PendingHoldsAsync(app)).ShouldBe(0);
        await ChatHttp.ConservationHoldsAsync(app, Slug);
    }

    [Fact]
    public async Task Chat_NoFirstByte_Is504AndReleasesEverything()
    {
        await SeedAsync();
        var before = await ChatHttp.AvailableAsync(app, Slug);

        HttpResponseMessage response;
        app.Wire.Fault = "delay-first-byte:10000";
        try
        {
            response = await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "3", new { message = "hello agent" });
        }
        finally
        {
            app.Wire.Fault = null;
        }

        response.StatusCode.ShouldBe(HttpStatusCode.GatewayTimeout, await response.Content.ReadAsStringAsync());
        (await ChatHttp.AvailableAsync(app, Slug)).ShouldBe(before);
        (await ChatHttp.PendingHoldsAsync(app)).ShouldBe(0);
        (await app.Database.ScalarAsync<string>("SELECT status FROM credit_reservations ORDER BY created_at DESC LIMIT 1")).ShouldBe("released");
    }

    [Fact]
    public async Task Chat_503ThenSuccess_StreamsAndChargesOnce()
    {
        await SeedAsync();
        var before = await ChatHttp.AvailableAsync(app, Slug);

        HttpResponseMessage response;
        app.Wire.Fault = "http-then-ok:503:2";
        try
        {
            response = await ChatHttp.ChatAsync(app, TestWallet.Demo, Slug, "1", new { message = "hello agent" });
        }
        finally
        {
            app.Wire.Fault = null;
        }

        var events = ChatHttp.Events(await response.Content.ReadAsStringAsync());
        events[^1].Name.ShouldBe("end");
        (before - await ChatHttp.AvailableAsync(app, Slug)).ShouldBe(events[^1].Data.GetProperty("cost_micro").GetInt64());
    }
}

public sealed class AgentsOff : ChatApp
{
    protected override bool StartStub => false;

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["AGENT_ENABLED"] = "false";
        return settings;
    }
}

public sealed class ChatKillSwitchTests(AgentsOff app) : IClassFixture<AgentsOff>
{
    [Fact]
    public async Task Chat_AgentsDisabled_Is503AndReservesNothing()
    {
        await ChatHttp.CommunityAsync(app, "off", app.Chain.Collection);

        var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, "off", "1", new { message = "hi" });

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await response.Content.ReadAsStringAsync()).ShouldContain("agents-disabled");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(0);
        app.Wire.Sent.ShouldBe(0);
    }
}

/// <summary>The chat limits at their real defaults (every other class raises them out of reach).</summary>
public sealed class ChatLimitsApp : ChatApp
{
    /// <summary>A wallet of this run only, so the limits in the shared Redis start full whatever ran before.</summary>
    public TestWallet Holder { get; } = new("0x" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));

    /// <summary>A token id of this run only: ownership answers are cached in the shared Redis too.</summary>
    public int Token { get; } = System.Security.Cryptography.RandomNumberGenerator.GetInt32(1_000, int.MaxValue);

    protected override async Task BeforeStartAsync()
    {
        await base.BeforeStartAsync();
        await MintAsync(Chain.Collection, Holder.Address, Token);
    }

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        foreach (var key in settings.Keys.Where(k => k.StartsWith("FREESIDE_RATE_LIMIT_CHAT_", StringComparison.Ordinal)).ToList())
        {
            settings.Remove(key);
        }

        return settings;
    }
}

public sealed class ChatRateLimitTests(ChatLimitsApp app) : IClassFixture<ChatLimitsApp>
{
    [Fact]
    public async Task Chat_FreeTierBurstUsedUp_Is429NamingTheDimensionAndReservesNothing()
    {
        await ChatHttp.CommunityAsync(app, "limits-free", app.Chain.Collection, level: "free");
        var client = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, app.Holder));
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            var response = await client.PostAsJsonAsync($"/api/v1/agents/limits-free/{app.Token}/chat", new { message = "hi" });
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                response.Headers.GetValues("X-RateLimit-Policy").Single().ShouldBe("burst");
                response.Headers.RetryAfter.ShouldNotBeNull();
                (await response.Content.ReadAsStringAsync()).ShouldContain("chat-burst-free");
            }
            else
            {
                await response.Content.ReadAsStringAsync();
            }
        }

        // Free: a burst of 3.
        statuses.ShouldBe([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests]);
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(3);
    }
}
