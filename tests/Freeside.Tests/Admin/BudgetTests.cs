using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Admin;
using Freeside.Tests.Infrastructure;
using Freeside.Tests.Ledger;

namespace Freeside.Tests.Admin;

/// <summary>Budgets are set by PUT and enforced at reservation, also when reservations race.</summary>
public sealed class BudgetTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private const string WalletA = "0x1111111111111111111111111111111111111111";
    private const string WalletB = "0x2222222222222222222222222222222222222222";

    private async Task SetAsync(AdminTestKit.TestCommunity community, long? monthly, long? daily)
    {
        var response = await app.CreateAdminClient().PutAsJsonAsync($"/api/v1/admin/communities/{community.Slug}/budget",
            new { monthly_cap_micro = monthly, daily_cap_per_wallet_micro = daily });
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Reserve_ThirtyConcurrentAgainstAMonthlyCapOfTen_ExactlyTenAreHeld()
    {
        var community = await app.CommunityAsync(10_000_000);
        await SetAsync(community, monthly: 1_000, daily: null);

        var results = await Task.WhenAll(Enumerable.Range(0, 30).Select(i =>
            Task.Run(() => app.ReserveForWalletAsync(community, i % 2 == 0 ? WalletA : WalletB, 100))));

        results.Count(r => r.IsSuccess).ShouldBe(10);
        results.Where(r => !r.IsSuccess).ShouldAllBe(r => r.Error is BudgetExceeded);
        (await app.PendingHeldAsync(community.Account)).ShouldBe(1_000);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM reservation_wallets WHERE community_id = @c", ("c", community.Id))).ShouldBe(10);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Reserve_ConcurrentPerWalletDailyCap_EachWalletGetsItsOwnCap()
    {
        var community = await app.CommunityAsync(10_000_000);
        await SetAsync(community, monthly: null, daily: 500);

        var results = await Task.WhenAll(Enumerable.Range(0, 24).Select(i =>
            Task.Run(async () => (Wallet: i % 2 == 0 ? WalletA : WalletB, Result: await app.ReserveForWalletAsync(community, i % 2 == 0 ? WalletA : WalletB, 100)))));

        results.Count(r => r.Wallet == WalletA && r.Result.IsSuccess).ShouldBe(5);
        results.Count(r => r.Wallet == WalletB && r.Result.IsSuccess).ShouldBe(5);
        (await app.PendingHeldAsync(community.Account)).ShouldBe(1_000);
    }

    [Fact]
    public async Task Reserve_AfterCharges_CountsWhatWasChargedNotWhatWasHeld()
    {
        var community = await app.CommunityAsync(10_000_000);
        await app.ChatSpendAsync(community, WalletA, held: 900, charged: 300);
        await SetAsync(community, monthly: 1_000, daily: null);

        (await app.ReserveForWalletAsync(community, WalletA, 700)).IsSuccess.ShouldBeTrue();
        var refused = await app.ReserveForWalletAsync(community, WalletB, 1);

        refused.Error.ShouldBeOfType<BudgetExceeded>().SpentMicro.ShouldBe(1_000);
    }

    [Fact]
    public async Task Reserve_WithoutABudget_RecordsTheWalletSoABudgetSetLaterCountsIt()
    {
        var community = await app.CommunityAsync(10_000_000);

        var results = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => app.ReserveForWalletAsync(community, WalletA, 100))));

        results.ShouldAllBe(r => r.IsSuccess);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM reservation_wallets WHERE community_id = @c AND wallet = @w",
            ("c", community.Id), ("w", WalletA))).ShouldBe(3);
        await SetAsync(community, monthly: 350, daily: null);
        (await app.ReserveForWalletAsync(community, WalletB, 100)).Error.ShouldBeOfType<BudgetExceeded>().SpentMicro.ShouldBe(300);
        (await app.ReserveForWalletAsync(community, WalletB, 50)).IsSuccess.ShouldBeTrue();
    }

    [Fact]
    public async Task Reserve_CapCleared_IsNoLongerRefused()
    {
        var community = await app.CommunityAsync(10_000_000);
        await SetAsync(community, monthly: 0, daily: null);
        (await app.ReserveForWalletAsync(community, WalletA, 1)).Error.ShouldBeOfType<BudgetExceeded>();

        await SetAsync(community, monthly: null, daily: null);

        (await app.ReserveForWalletAsync(community, WalletA, 1)).IsSuccess.ShouldBeTrue();
    }

    [Fact]
    public async Task GetBudget_AfterPut_ShowsCapsAndThisMonthsSpend()
    {
        var community = await app.CommunityAsync(10_000_000);
        await app.ChatSpendAsync(community, WalletA, held: 900, charged: 300);
        (await app.ReserveForWalletAsync(community, WalletB, 50)).IsSuccess.ShouldBeTrue();
        await SetAsync(community, monthly: 5_000, daily: 700);

        var budget = await app.CreateAdminClient().GetFromJsonAsync<JsonElement>($"/api/v1/admin/communities/{community.Slug}/budget");

        budget.GetProperty("monthly_cap_micro").GetInt64().ShouldBe(5_000);
        budget.GetProperty("daily_cap_per_wallet_micro").GetInt64().ShouldBe(700);
        budget.GetProperty("month_spent_micro").GetInt64().ShouldBe(350);
    }

    [Theory]
    [InlineData("{\"monthly_cap_micro\": -1}", "monthly_cap_micro")]
    [InlineData("{\"daily_cap_per_wallet_micro\": 1000000000001}", "daily_cap_per_wallet_micro")]
    [InlineData("{\"monthly_cap_micro\": \"lots\"}", "monthly_cap_micro")]
    public async Task PutBudget_BadCap_Is400AndWritesNothing(string json, string field)
    {
        var community = await app.CommunityAsync(1_000);

        var response = await app.CreateAdminClient().PutAsync($"/api/v1/admin/communities/{community.Slug}/budget",
            new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain(field);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM community_budgets WHERE community_id = @c", ("c", community.Id))).ShouldBe(0);
    }
}

/// <summary>A pool of 8 connections: chat admissions must not take every one of them.</summary>
public sealed class SmallPoolApp : FreesideApp
{
    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["DATABASE_URL"] = new Npgsql.NpgsqlConnectionStringBuilder(database.AppConnectionString) { MaxPoolSize = 8 }.ConnectionString;
        return settings;
    }
}

public sealed class BudgetPoolTests(SmallPoolApp app) : IClassFixture<SmallPoolApp>
{
    [Fact]
    public async Task Reserve_FortyAtOnceOnAPoolOfEight_AllHeldNoneStarvedOfAConnection()
    {
        // Each admission holds a connection while the ledger's batcher needs another for the reservation:
        // unbounded, eight admissions took the whole pool and the batcher timed out waiting for a ninth.
        var community = await app.CommunityAsync(10_000_000);
        // A budget, so that admissions take the budget row's lock (a community without one takes none).
        await app.Database.ExecuteAsync($"INSERT INTO community_budgets (community_id, monthly_cap_micro, updated_at) VALUES ('{community.Id}', 1000000, now())");

        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            Task.Run(() => app.ReserveForWalletAsync(community, "0x3333333333333333333333333333333333333333", 100))));

        results.ShouldAllBe(r => r.IsSuccess);
        (await app.PendingHeldAsync(community.Account)).ShouldBe(4_000);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM reservation_wallets WHERE community_id = @c", ("c", community.Id))).ShouldBe(40);
    }

    [Theory]
    [InlineData("Host=h;Maximum Pool Size=8", 4)]
    [InlineData("Host=h;Maximum Pool Size=1", 1)]
    [InlineData("Host=h", 50)]
    public void AdmissionLimit_HalfThePool(string connectionString, int limit) =>
        BudgetGuard.AdmissionLimit(connectionString).ShouldBe(limit);
}
