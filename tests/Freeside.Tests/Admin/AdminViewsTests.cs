using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Ledger;
using Freeside.Tests.Infrastructure;
using Freeside.Tests.Ledger;

namespace Freeside.Tests.Admin;

/// <summary>The usage, billing, agents, pool-access and conservation views report what the ledger holds, at once.</summary>
public sealed class AdminViewsTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private const string WalletA = "0x1111111111111111111111111111111111111111";
    private const string WalletB = "0x2222222222222222222222222222222222222222";

    private static string Checksum(string wallet)
    {
        Freeside.Features.Common.Ethereum.EthereumAddress.TryParse(wallet, out var address).ShouldBeTrue();
        return address.ToChecksumString();
    }

    private Task<JsonElement> GetAsync(AdminTestKit.TestCommunity community, string view) =>
        app.CreateAdminClient().GetFromJsonAsync<JsonElement>($"/api/v1/admin/communities/{community.Slug}/{view}");

    [Fact]
    public async Task Usage_AfterCharges_BreaksSpendDownByPoolWalletAndDay()
    {
        var community = await app.CommunityAsync(10_000_000);
        await app.ChatSpendAsync(community, WalletA, 100_000, 40_000, "cheap");
        await app.ChatSpendAsync(community, WalletA, 300_000, 250_000, "reviewer");
        await app.ChatSpendAsync(community, WalletB, 100_000, 10_000, "cheap");

        var usage = await GetAsync(community, "usage?period=week");

        usage.GetProperty("period").GetString().ShouldBe("week");
        usage.GetProperty("total_spend_micro").GetInt64().ShouldBe(300_000);
        usage.GetProperty("calls").GetInt64().ShouldBe(3);
        var pools = usage.GetProperty("pools").EnumerateArray().ToDictionary(p => p.GetProperty("pool").GetString()!, p => p.GetProperty("spend_micro").GetInt64());
        pools.ShouldBe(new Dictionary<string, long> { ["reviewer"] = 250_000, ["cheap"] = 50_000 });
        var wallets = usage.GetProperty("wallets").EnumerateArray().ToDictionary(w => w.GetProperty("wallet").GetString()!, w => w.GetProperty("spend_micro").GetInt64());
        wallets.ShouldBe(new Dictionary<string, long>
        {
            [Checksum(WalletA)] = 290_000,
            [Checksum(WalletB)] = 10_000,
        });
        var daily = usage.GetProperty("daily").EnumerateArray().ToList();
        daily.Count.ShouldBe(8);
        daily.Sum(d => d.GetProperty("spend_micro").GetInt64()).ShouldBe(300_000);
        daily[^1].GetProperty("pools").GetProperty("reviewer").GetInt64().ShouldBe(250_000);
        usage.GetProperty("balance_micro").GetInt64().ShouldBe(10_000_000 - 300_000);
        // 300,000 over seven days is 42,857 a day; 9,700,000 lasts 226 more days at that rate.
        usage.GetProperty("burn_rate_micro_per_day").GetInt64().ShouldBe(42_857);
        var depletion = usage.GetProperty("projected_depletion_at").GetDateTimeOffset();
        (depletion - usage.GetProperty("to").GetDateTimeOffset()).TotalDays.ShouldBeInRange(226, 227);
    }

    [Fact]
    public async Task Usage_NoSpend_HasNoDepletionDate()
    {
        var community = await app.CommunityAsync(1_000);

        var usage = await GetAsync(community, "usage?period=day");

        usage.GetProperty("total_spend_micro").GetInt64().ShouldBe(0);
        usage.GetProperty("projected_depletion_at").ValueKind.ShouldBe(JsonValueKind.Null);
        usage.GetProperty("daily").GetArrayLength().ShouldBe(1);
    }

    [Fact]
    public async Task Usage_BalanceOutlastingTheCalendar_HasNoDepletionDate()
    {
        // A day's burn of a few thousand micro-USD against a million dollars: past year 9999, which once threw (500).
        var community = await app.CommunityAsync(1_000_000_000_000);
        await app.ChatSpendAsync(community, "0x3333333333333333333333333333333333333333", 10_000, 1_000);

        var usage = await GetAsync(community, "usage?period=month");

        usage.GetProperty("burn_rate_micro_per_day").GetInt64().ShouldBeGreaterThan(0);
        usage.GetProperty("projected_depletion_at").ValueKind.ShouldBe(JsonValueKind.Null);
    }

    [Fact]
    public async Task Usage_BadPeriod_Is400()
    {
        var community = await app.CommunityAsync(1_000);

        var response = await app.CreateAdminClient().GetAsync($"/api/v1/admin/communities/{community.Slug}/usage?period=year");

        response.StatusCode.ShouldBe(System.Net.HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain("period");
    }

    [Fact]
    public async Task Billing_AfterSpendAndReversal_MatchesTheBalance()
    {
        var community = await app.CommunityAsync(1_000_000);
        var reservation = await app.ChatSpendAsync(community, WalletA, 100_000, 60_000);
        (await app.SendAsync(new ReverseCharge.Command(community.Slug, reservation, 5_000, "cut off", "r1"))).IsSuccess.ShouldBeTrue();
        (await app.ReserveForWalletAsync(community, WalletB, 20_000)).IsSuccess.ShouldBeTrue();

        var billing = await GetAsync(community, "billing");
        var balance = (await app.SendAsync(new GetBalance.Query(community.Slug))).Value;

        billing.GetProperty("available_micro").GetInt64().ShouldBe(balance.AvailableMicro);
        billing.GetProperty("available_micro").GetInt64().ShouldBe(1_000_000 - 55_000 - 20_000);
        billing.GetProperty("reserved_micro").GetInt64().ShouldBe(20_000);
        billing.GetProperty("consumed_micro").GetInt64().ShouldBe(55_000);
        billing.GetProperty("debt_micro").GetInt64().ShouldBe(0);
        billing.GetProperty("lots").GetArrayLength().ShouldBe(1);
        billing.GetProperty("reversals")[0].GetProperty("amount_micro").GetInt64().ShouldBe(5_000);
    }

    [Fact]
    public async Task Agents_AfterMessages_CountsAgentsConversationsAndMessages()
    {
        var community = await app.CommunityAsync(1_000);
        var conversation = Guid.NewGuid();
        (await app.SendAsync(new Freeside.Features.Inference.RecordExchange.Command(community.Id,
        [
            Message(community, conversation, "nft/1", "user", null),
            Message(community, conversation, "nft/1", "assistant", 700),
            Message(community, Guid.NewGuid(), "nft/2", "user", null),
        ]))).IsSuccess.ShouldBeTrue();

        var agents = await GetAsync(community, "agents");

        agents.GetProperty("active_agents30d").GetInt64().ShouldBe(2);
        agents.GetProperty("conversations").GetInt64().ShouldBe(2);
        agents.GetProperty("messages").GetInt64().ShouldBe(3);
        var first = agents.GetProperty("recent").EnumerateArray().Single(a => a.GetProperty("nft").GetString() == "nft/1");
        first.GetProperty("spend_micro").GetInt64().ShouldBe(700);
        agents.GetRawText().ShouldNotContain("secret text");
    }

    private static Freeside.Features.Inference.AgentMessage Message(AdminTestKit.TestCommunity community, Guid conversation, string nft, string role, long? cost) => new()
    {
        Id = Guid.NewGuid(), ConversationId = conversation, NftId = nft, CommunityId = community.Id, Source = "discord",
        AuthorWallet = WalletA, Role = role, Content = "secret text", CostMicro = cost, PoolId = cost is null ? null : "cheap", CreatedAt = DateTimeOffset.UtcNow,
    };

    [Fact]
    public async Task PoolAccess_ShowsTierRulesRejectionsAndDistribution()
    {
        var community = await app.CommunityAsync(10_000_000);
        await app.ChatSpendAsync(community, WalletA, 1_000, 100, "cheap");
        await app.ChatSpendAsync(community, WalletA, 1_000, 100, "cheap");
        await app.ChatSpendAsync(community, WalletA, 1_000, 100, "reviewer");
        var rejected = await app.ReserveForWalletAsync(community, WalletA, 1_000);
        (await app.SendAsync(new ReleaseReservation.Command(community.Account, rejected.Value.ReservationId, "pool claim violation"))).IsSuccess.ShouldBeTrue();

        var access = await GetAsync(community, "pool-access");

        access.GetProperty("community_tier").GetString().ShouldBe("pro");
        var tiers = access.GetProperty("tiers").EnumerateArray().ToDictionary(t => t.GetProperty("tier").GetString()!);
        tiers["pro"].GetProperty("current").GetBoolean().ShouldBeTrue();
        tiers["pro"].GetProperty("pools").EnumerateArray().Select(p => p.GetProperty("pool").GetString()).ShouldBe(["cheap", "fast-code", "reviewer"]);
        tiers["free"].GetProperty("pools").EnumerateArray().Select(p => p.GetProperty("pool").GetString()).ShouldBe(["cheap"]);
        tiers["pro"].GetProperty("pools")[0].GetProperty("reason").GetString()!.ShouldContain("tier 'pro'");
        access.GetProperty("pool_claim_rejections30d").GetInt64().ShouldBe(1);
        var calls = access.GetProperty("calls30d").EnumerateArray().ToDictionary(c => c.GetProperty("pool").GetString()!, c => c.GetProperty("calls").GetInt64());
        calls.ShouldBe(new Dictionary<string, long> { ["cheap"] = 2, ["reviewer"] = 1 });
    }

    [Fact]
    public async Task Conservation_WithARecordedViolation_ShowsItInTheHistory()
    {
        var community = await app.CommunityAsync(1_000);
        await app.Database.ExecuteAsync(
            $"INSERT INTO conservation_violations (account_id, community_id, invariant, source, detail, detected_at) VALUES ('{community.Account}', '{community.Id}', 'C4', 'audit', 'seeded for the view', now())");

        var conservation = await GetAsync(community, "conservation");

        conservation.GetProperty("current").GetProperty("status").GetString().ShouldBe("ok");
        conservation.GetProperty("violations_total").GetInt64().ShouldBe(1);
        conservation.GetProperty("history")[0].GetProperty("invariant").GetString().ShouldBe("C4");
    }
}
