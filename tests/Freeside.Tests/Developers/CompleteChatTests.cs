using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Inference;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Developers;

/// <summary>
/// Freeside with the finn stand-in and the demo chain, for the OpenAI-compatible API. The agent tests use a
/// wallet of their own (token 77): ownership answers are cached in the shared Redis by chain, collection and
/// wallet, and every test chain deploys the demo collection at the same address, so listing the demo wallet's
/// tokens here would leak into other classes' answers for a minute.
/// </summary>
public sealed class DeveloperApiApp : ChatApp
{
    public const int AgentToken = 77;

    public TestWallet AgentHolder { get; } = DeveloperKit.NewWallet();

    protected override async Task BeforeStartAsync()
    {
        await base.BeforeStartAsync();
        await MintAsync(Chain.Collection, AgentHolder.Address, AgentToken);
    }
}

public sealed class CompleteChatTests(DeveloperApiApp app) : IClassFixture<DeveloperApiApp>
{
    private const string Agents = "dev-agents";
    private const int StubTokens = 24;

    private static object Ask(string model, string content = "hello", bool stream = false, object? extra = null) =>
        new Dictionary<string, object?>
        {
            ["model"] = model,
            ["messages"] = new object[] { new { role = "system", content = "be brief" }, new { role = "user", content } },
            ["stream"] = stream,
        }.Concat(extra?.GetType().GetProperties().Select(p => KeyValuePair.Create(p.Name, p.GetValue(extra))) ?? []).ToDictionary();

    private async Task<(HttpClient Session, TestWallet Wallet)> DeveloperAsync(TestWallet? wallet = null)
    {
        wallet ??= DeveloperKit.NewWallet();
        return (await DeveloperKit.SessionAsync(app, wallet), wallet);
    }

    private async Task GrantAsync(TestWallet wallet, long micro)
    {
        var granted = await app.CreateAdminClient().PostAsJsonAsync($"/api/v1/admin/developers/{wallet.Address.ToChecksumString()}/grants",
            new { amount_micro = micro, reason = "test credit", idempotency_key = "grant-" + Guid.NewGuid() });
        granted.StatusCode.ShouldBe(HttpStatusCode.OK, await granted.Content.ReadAsStringAsync());
    }

    private Task<long> BalanceAsync(TestWallet wallet) => app.Database.ScalarAsync<long>(
        "SELECT coalesce(sum(l.available), 0) FROM credit_lots l JOIN credit_accounts a ON a.id = l.account_id WHERE a.kind = 'developer' AND a.developer_id = @d",
        ("d", Freeside.Features.Payments.CreatePayment.DeveloperId(wallet.Address)));

    private Task<long> ReservationsAsync(TestWallet wallet) => app.Database.ScalarAsync<long>(
        "SELECT count(*) FROM credit_reservations r JOIN credit_accounts a ON a.id = r.account_id WHERE a.developer_id = @d",
        ("d", Freeside.Features.Payments.CreatePayment.DeveloperId(wallet.Address)));

    private static long Prompt(string content) => PoolCatalog.EstimateTokens("be brief".Length + content.Length);

    [Fact]
    public async Task Sandbox_EleventhRequestInAMinute_429WithRetryAfterAndNothingCharged()
    {
        var (session, wallet) = await DeveloperAsync();
        var (keyId, key) = await DeveloperKit.CreateKeyAsync(session, "test");
        var client = app.CreateClient().WithKey(key);

        for (var i = 0; i < 10; i++)
        {
            var ok = await DeveloperKit.CompleteAsync(client, Ask("cheap", "q" + i, extra: new { max_tokens = 30 }));
            ok.StatusCode.ShouldBe(HttpStatusCode.OK, await ok.Content.ReadAsStringAsync());
        }

        var refused = await DeveloperKit.CompleteAsync(client, Ask("cheap"));

        refused.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        var retryAfter = int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        retryAfter.ShouldBeInRange(1, 60);
        refused.Headers.GetValues("X-RateLimit-Limit").Single().ShouldBe("10");
        refused.Headers.GetValues("X-RateLimit-Remaining").Single().ShouldBe("0");
        refused.Headers.Contains("X-RateLimit-Reset").ShouldBeTrue();
        var error = await DeveloperKit.ErrorAsync(refused);
        error.GetProperty("code").GetString().ShouldBe("rate_limit_exceeded");
        error.GetProperty("type").GetString().ShouldBe("requests");

        var developer = Freeside.Features.Payments.CreatePayment.DeveloperId(wallet.Address);
        (await app.Database.ScalarAsync<long>(
            "SELECT count(*) FROM usage_events u JOIN credit_accounts a ON a.id = u.account_id WHERE a.developer_id = @d AND u.amount_micro = 0 AND u.accounting_mode = 'sandbox'",
            ("d", developer))).ShouldBe(10);
        (await app.Database.ScalarAsync<long>(
            "SELECT coalesce(sum(u.amount_micro), 0) FROM usage_events u JOIN credit_accounts a ON a.id = u.account_id WHERE a.developer_id = @d", ("d", developer))).ShouldBe(0);
        (await app.Database.ScalarAsync<long>(
            "SELECT count(*) FROM api_calls WHERE key_id = @k AND billing_mode = 'sandbox' AND amount_micro = 0 AND pool_id = 'cheap'", ("k", keyId))).ShouldBe(10);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_lots l JOIN credit_accounts a ON a.id = l.account_id WHERE a.developer_id = @d",
            ("d", developer))).ShouldBe(0);
    }

    [Fact]
    public async Task Sandbox_TokensOfTheDayUsedUp_429()
    {
        var (session, _) = await DeveloperAsync();
        var (_, key) = await DeveloperKit.CreateKeyAsync(session, "test");
        var client = app.CreateClient().WithKey(key);
        var content = new string('x', 1192); // with "be brief": 1,200 characters, 300 prompt tokens; + 24 answered = 324 a call
        var perCall = Prompt(content) + StubTokens;
        perCall.ShouldBe(324);

        var used = 0L;
        for (var i = 0; i < 3; i++)
        {
            var ok = await DeveloperKit.CompleteAsync(client, Ask("cheap", content));
            ok.StatusCode.ShouldBe(HttpStatusCode.OK, await ok.Content.ReadAsStringAsync());
            used += (await ok.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("usage").GetProperty("total_tokens").GetInt64();
        }

        used.ShouldBe(972);
        // 28 tokens are left: not enough for this prompt, so the call is refused before finn is asked.
        var refused = await DeveloperKit.CompleteAsync(client, Ask("cheap", content));
        refused.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        (await DeveloperKit.ErrorAsync(refused)).GetProperty("type").GetString().ShouldBe("tokens");
        refused.Headers.GetValues("X-RateLimit-Limit").Single().ShouldBe("1000");
        refused.Headers.GetValues("X-RateLimit-Remaining").Single().ShouldBe("28");
        refused.Headers.Contains("Retry-After").ShouldBeTrue();

        // A short one still fits, cut to what is left of the day: never past 1,000.
        var last = await DeveloperKit.CompleteAsync(client, Ask("cheap", "hi"));
        last.StatusCode.ShouldBe(HttpStatusCode.OK, await last.Content.ReadAsStringAsync());
        var usage = (await last.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("usage");
        (used + usage.GetProperty("total_tokens").GetInt64()).ShouldBeLessThanOrEqualTo(1000);
        var after = await DeveloperKit.CompleteAsync(client, Ask("cheap", "hi"));
        after.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
    }

    [Theory]
    [InlineData("reviewer")]
    [InlineData("architect")]
    public async Task Sandbox_PoolOutsideCheap_403AndNothingReserved(string model)
    {
        var (session, wallet) = await DeveloperAsync();
        var (_, key) = await DeveloperKit.CreateKeyAsync(session, "test");

        var refused = await DeveloperKit.CompleteAsync(app.CreateClient().WithKey(key), Ask(model));

        refused.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await DeveloperKit.ErrorAsync(refused)).GetProperty("message").GetString()!.ShouldContain("sandbox");
        (await ReservationsAsync(wallet)).ShouldBe(0);
    }

    [Fact]
    public async Task Live_Call_ChargedExactlyFinnsCost()
    {
        var (session, wallet) = await DeveloperAsync();
        await GrantAsync(wallet, 1_000_000);
        var (keyId, key) = await DeveloperKit.CreateKeyAsync(session, "live");
        var before = await BalanceAsync(wallet);

        var response = await DeveloperKit.CompleteAsync(app.CreateClient().WithKey(key), Ask("reviewer", "what is the answer?"));

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("object").GetString().ShouldBe("chat.completion");
        body.GetProperty("model").GetString().ShouldBe("reviewer");
        body.GetProperty("id").GetString()!.ShouldStartWith("chatcmpl-");
        var choice = body.GetProperty("choices")[0];
        choice.GetProperty("message").GetProperty("role").GetString().ShouldBe("assistant");
        choice.GetProperty("message").GetProperty("content").GetString()!.Split(' ').Length.ShouldBe(StubTokens);
        choice.GetProperty("finish_reason").GetString().ShouldBe("stop");
        var usage = body.GetProperty("usage");
        var prompt = Prompt("what is the answer?");
        usage.GetProperty("prompt_tokens").GetInt64().ShouldBe(prompt);
        usage.GetProperty("completion_tokens").GetInt64().ShouldBe(StubTokens);
        var finnCost = PoolCatalog.CostMicro("reviewer", prompt, StubTokens);
        finnCost.ShouldBeGreaterThan(0);
        response.Headers.GetValues("X-Freeside-Cost-Micro").Single().ShouldBe(finnCost.ToString(System.Globalization.CultureInfo.InvariantCulture));
        (before - await BalanceAsync(wallet)).ShouldBe(finnCost);
        (await app.Database.ScalarAsync<long>("SELECT amount_micro FROM api_calls WHERE key_id = @k", ("k", keyId))).ShouldBe(finnCost);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_reservations r JOIN credit_accounts a ON a.id = r.account_id WHERE a.developer_id = @d AND r.status = 'pending'",
            ("d", Freeside.Features.Payments.CreatePayment.DeveloperId(wallet.Address)))).ShouldBe(0);
        var usageJson = await session.GetFromJsonAsync<JsonElement>("/api/v1/developer/usage?days=1");
        usageJson.GetProperty("amount_micro").GetInt64().ShouldBe(finnCost);
        usageJson.GetProperty("items")[0].GetProperty("key_id").GetString().ShouldBe(keyId);
        usageJson.GetProperty("items")[0].GetProperty("pool").GetString().ShouldBe("reviewer");
    }

    [Fact]
    public async Task Live_Streamed_ChunksThenFinishThenUsageThenDone()
    {
        var (session, wallet) = await DeveloperAsync();
        await GrantAsync(wallet, 1_000_000);
        var (_, key) = await DeveloperKit.CreateKeyAsync(session, "live");
        var before = await BalanceAsync(wallet);

        var response = await DeveloperKit.CompleteAsync(app.CreateClient().WithKey(key),
            Ask("fast-code", "stream please", stream: true, extra: new { stream_options = new { include_usage = true } }));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/event-stream");
        var lines = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        lines.ShouldAllBe(l => l.StartsWith("data: ", StringComparison.Ordinal));
        lines[^1].ShouldBe("data: [DONE]");
        var chunks = lines[..^1].Select(l => JsonDocument.Parse(l[6..]).RootElement).ToList();
        chunks.ShouldAllBe(c => c.GetProperty("object").GetString() == "chat.completion.chunk");
        chunks.Select(c => c.GetProperty("id").GetString()).Distinct().Count().ShouldBe(1);
        chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString().ShouldBe("assistant");
        var text = string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0)
            .Select(c => c.GetProperty("choices")[0].GetProperty("delta"))
            .Where(d => d.TryGetProperty("content", out _)).Select(d => d.GetProperty("content").GetString()));
        text.Split(' ').Length.ShouldBe(StubTokens);
        chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString().ShouldBe("stop");
        chunks[^1].GetProperty("choices").GetArrayLength().ShouldBe(0);
        var usage = chunks[^1].GetProperty("usage");
        usage.GetProperty("completion_tokens").GetInt64().ShouldBe(StubTokens);
        (before - await BalanceAsync(wallet)).ShouldBe(PoolCatalog.CostMicro("fast-code", usage.GetProperty("prompt_tokens").GetInt64(), StubTokens));
    }

    [Fact]
    public async Task Live_WithoutFunds_429InsufficientQuotaAndNothingHeld()
    {
        var (session, wallet) = await DeveloperAsync();
        var (_, key) = await DeveloperKit.CreateKeyAsync(session, "live");

        var refused = await DeveloperKit.CompleteAsync(app.CreateClient().WithKey(key), Ask("reviewer"));

        refused.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        var error = await DeveloperKit.ErrorAsync(refused);
        error.GetProperty("type").GetString().ShouldBe("insufficient_quota");
        error.GetProperty("code").GetString().ShouldBe("insufficient_quota");
        (await ReservationsAsync(wallet)).ShouldBe(0);
    }

    [Fact]
    public async Task Live_PoolOutsideProTier_403UntilTheAdminSetsEnterprise()
    {
        var (session, wallet) = await DeveloperAsync();
        await GrantAsync(wallet, 5_000_000);
        var (_, key) = await DeveloperKit.CreateKeyAsync(session, "live");
        var client = app.CreateClient().WithKey(key);

        (await DeveloperKit.CompleteAsync(client, Ask("architect"))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        var models = await client.GetFromJsonAsync<JsonElement>("/v1/models");
        models.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ShouldBe(["cheap", "fast-code", "reviewer"]);

        var set = await app.CreateAdminClient().PutAsJsonAsync($"/api/v1/admin/developers/{wallet.Address.ToChecksumString()}", new { tier = "enterprise" });
        set.StatusCode.ShouldBe(HttpStatusCode.OK, await set.Content.ReadAsStringAsync());

        var ok = await DeveloperKit.CompleteAsync(client, Ask("architect"));
        ok.StatusCode.ShouldBe(HttpStatusCode.OK, await ok.Content.ReadAsStringAsync());
        (await client.GetFromJsonAsync<JsonElement>("/v1/models")).GetProperty("data").GetArrayLength().ShouldBe(5);
    }

    [Fact]
    public async Task Live_RevokedKey_401OnTheNextRequest()
    {
        var (session, wallet) = await DeveloperAsync();
        await GrantAsync(wallet, 1_000_000);
        var (id, key) = await DeveloperKit.CreateKeyAsync(session, "live");
        var client = app.CreateClient().WithKey(key);
        (await DeveloperKit.CompleteAsync(client, Ask("cheap"))).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await session.DeleteAsync($"/api/v1/developer/keys/{id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        (await DeveloperKit.CompleteAsync(client, Ask("cheap"))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("{\"model\":\"gpt-4\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 404, "model")]
    [InlineData("{\"model\":\"cheap\",\"messages\":[]}", 400, "messages")]
    [InlineData("{\"model\":\"cheap\",\"messages\":[{\"role\":\"tool\",\"content\":\"hi\"}]}", 400, "messages[0]")]
    [InlineData("{\"model\":\"cheap\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4097}", 400, "max_tokens")]
    [InlineData("{\"model\":\"cheap\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_completion_tokens\":0}", 400, "max_tokens")]
    [InlineData("{\"model\":\"cheap\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":3}", 400, "temperature")]
    [InlineData("{\"model\":\"cheap\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop")]
    [InlineData("{\"model\":\"cheap\",\"messages\":[{\"role\":\"user\",\"content\":42}]}", 400, "messages")]
    [InlineData("not json", 400, null)]
    [InlineData("{\"model\":\"agent:nowhere/1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 404, "model")]
    public async Task Complete_BadRequest_OpenAiErrorAndNothingReserved(string body, int status, string? param)
    {
        var (session, wallet) = await DeveloperAsync();
        await GrantAsync(wallet, 1_000_000);
        var (_, key) = await DeveloperKit.CreateKeyAsync(session, "live");

        var response = await app.CreateClient().WithKey(key).PostAsync("/v1/chat/completions", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        ((int)response.StatusCode).ShouldBe(status, await response.Content.ReadAsStringAsync());
        var error = await DeveloperKit.ErrorAsync(response);
        error.GetProperty("message").GetString().ShouldNotBeNullOrEmpty();
        error.GetProperty("type").GetString().ShouldBe("invalid_request_error");
        if (param is not null)
        {
            error.GetProperty("param").GetString()!.ToLowerInvariant().ShouldStartWith(param.Replace("_", "", StringComparison.Ordinal).ToLowerInvariant()[..3]);
        }

        (await ReservationsAsync(wallet)).ShouldBe(0);
    }

    [Fact]
    public async Task Agent_HeldNft_ListedAndChatChargedToTheDeveloperNotTheCommunity()
    {
        await ChatHttp.CommunityAsync(app, Agents, app.Chain.Collection, grantMicro: 1_000_000);
        var communityBefore = await ChatHttp.AvailableAsync(app, Agents);
        var (session, wallet) = await DeveloperAsync(app.AgentHolder);
        await GrantAsync(wallet, 1_000_000);
        var (_, key) = await DeveloperKit.CreateKeyAsync(session, "live", name: "agent key");
        var client = app.CreateClient().WithKey(key);

        var models = (await client.GetFromJsonAsync<JsonElement>("/v1/models")).GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
        models.ShouldContain($"agent:{Agents}/{DeveloperApiApp.AgentToken}");
        var before = await BalanceAsync(wallet);

        var response = await DeveloperKit.CompleteAsync(client, Ask($"agent:{Agents}/{DeveloperApiApp.AgentToken}"));

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        // The hold and the charge (finn's cost for this NFT's pool, possibly under a micro-dollar) are the developer's.
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var pool = response.Headers.GetValues("X-Pool-Used").Single();
        var usage = body.GetProperty("usage");
        (before - await BalanceAsync(wallet)).ShouldBe(
            PoolCatalog.CostMicro(pool, usage.GetProperty("prompt_tokens").GetInt64(), usage.GetProperty("completion_tokens").GetInt64()));
        (await ReservationsAsync(wallet)).ShouldBe(1);
        (await app.Database.ScalarAsync<long>(
            "SELECT count(*) FROM credit_reservations r JOIN credit_accounts a ON a.id = r.account_id JOIN communities c ON c.id = a.community_id WHERE c.slug = @s",
            ("s", Agents))).ShouldBe(0);
        (await ChatHttp.AvailableAsync(app, Agents)).ShouldBe(communityBefore);
        var stranger = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());
        var (_, strangerKey) = await DeveloperKit.CreateKeyAsync(stranger, "test");
        (await DeveloperKit.CompleteAsync(app.CreateClient().WithKey(strangerKey), Ask($"agent:{Agents}/{DeveloperApiApp.AgentToken}"))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }
}
