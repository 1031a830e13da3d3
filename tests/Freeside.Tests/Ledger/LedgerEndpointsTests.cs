using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Ledger;

public sealed class LedgerEndpointsTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private async Task<string> CommunityAsync() => (await app.FundedCommunityAsync(0)).Slug;

    [Fact]
    public async Task Grant_New_Is201AndShowsInBalance()
    {
        var slug = await CommunityAsync();
        using var client = app.CreateAdminClient();

        var response = await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/grants",
            new { amount_micro = 2_500_000, reason = "launch promo", idempotency_key = "promo-1" });
        var balance = await client.GetFromJsonAsync<JsonElement>($"/api/v1/communities/{slug}/balance");

        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        balance.GetProperty("available_micro").GetInt64().ShouldBe(2_500_000);
        balance.GetProperty("reserved_micro").GetInt64().ShouldBe(0);
        balance.GetProperty("consumed_micro").GetInt64().ShouldBe(0);
        balance.GetProperty("lots")[0].GetProperty("source").GetString().ShouldBe("grant");
        balance.GetProperty("lots")[0].GetProperty("original_micro").GetInt64().ShouldBe(2_500_000);
    }

    [Fact]
    public async Task Grant_ReplayedKey_Is200WithTheSameLot_AndDifferentAmountIs409()
    {
        var slug = await CommunityAsync();
        using var client = app.CreateAdminClient();
        var first = await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/grants", new { amount_micro = 100, reason = "r", idempotency_key = "k" });

        var replay = await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/grants", new { amount_micro = 100, reason = "r", idempotency_key = "k" });
        var conflict = await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/grants", new { amount_micro = 101, reason = "r", idempotency_key = "k" });

        replay.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await replay.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("lot_id").GetGuid()
            .ShouldBe((await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("lot_id").GetGuid());
        conflict.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await conflict.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString().ShouldEndWith("/idempotency-key-reused");
        (await client.GetFromJsonAsync<JsonElement>($"/api/v1/communities/{slug}/balance")).GetProperty("available_micro").GetInt64().ShouldBe(100);
    }

    [Theory]
    [InlineData("{\"amount_micro\":0,\"reason\":\"r\",\"idempotency_key\":\"k\"}", "amount_micro")]
    [InlineData("{\"amount_micro\":-5,\"reason\":\"r\",\"idempotency_key\":\"k\"}", "amount_micro")]
    [InlineData("{\"reason\":\"r\",\"idempotency_key\":\"k\"}", "amount_micro")]
    [InlineData("{\"amount_micro\":5,\"idempotency_key\":\"k\"}", "reason")]
    [InlineData("{\"amount_micro\":5,\"reason\":\"r\"}", "idempotency_key")]
    public async Task Grant_BadInput_Is400NamingTheFieldAndWritesNothing(string body, string field)
    {
        var slug = await CommunityAsync();
        using var client = app.CreateAdminClient();

        var response = await client.PostAsync($"/api/v1/admin/communities/{slug}/grants", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_lots l JOIN communities c ON c.id = l.community_id WHERE c.slug = @s", ("s", slug))).ShouldBe(0);
    }

    [Fact]
    public async Task Grant_UnknownCommunity_Is404()
    {
        using var client = app.CreateAdminClient();

        var response = await client.PostAsJsonAsync("/api/v1/admin/communities/nobody-here/grants", new { amount_micro = 1, reason = "r", idempotency_key = "k" });

        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task LedgerEndpoints_WithoutAdminToken_Are401()
    {
        var slug = await CommunityAsync();
        using var client = app.CreateClient();

        (await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/grants", new { amount_micro = 1, reason = "r", idempotency_key = "k" })).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await client.GetAsync($"/api/v1/communities/{slug}/balance")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await client.GetAsync($"/api/v1/admin/community/{slug}/conservation")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Conservation_HealthyLedger_ReportsOkForEveryInvariant()
    {
        var slug = await CommunityAsync();
        using var client = app.CreateAdminClient();
        await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/grants", new { amount_micro = 100, reason = "r", idempotency_key = "k" });

        var report = await client.GetFromJsonAsync<JsonElement>($"/api/v1/admin/community/{slug}/conservation");

        report.GetProperty("status").GetString().ShouldBe("ok");
        report.GetProperty("invariants").EnumerateArray().Select(i => i.GetProperty("id").GetString()).ShouldBe(["C1", "C2", "C3", "C4", "C5", "C6"]);
        report.GetProperty("invariants").EnumerateArray().ShouldAllBe(i => i.GetProperty("ok").GetBoolean());
        report.TryGetProperty("checked_at", out _).ShouldBeTrue();
        report.GetProperty("recent_violations").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task Conservation_TamperedLedger_ReportsViolated()
    {
        var slug = await CommunityAsync();
        using var client = app.CreateAdminClient();
        await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/grants", new { amount_micro = 100, reason = "r", idempotency_key = "k" });
        // The owner role drops the backstop for one statement, as a bad migration might.
        await app.Database.ExecuteAsync($"""
            BEGIN;
            ALTER TABLE credit_lots DISABLE TRIGGER tr_credit_lots_conserved;
            UPDATE credit_lots SET available = available + 7 WHERE community_id = (SELECT id FROM communities WHERE slug = '{slug}');
            ALTER TABLE credit_lots ENABLE TRIGGER tr_credit_lots_conserved;
            COMMIT;
            """);

        var report = await client.GetFromJsonAsync<JsonElement>($"/api/v1/admin/community/{slug}/conservation");

        report.GetProperty("status").GetString().ShouldBe("violated");
        var failed = report.GetProperty("invariants").EnumerateArray().Where(i => !i.GetProperty("ok").GetBoolean()).Select(i => i.GetProperty("id").GetString()).ToList();
        failed.ShouldContain("C1");
        failed.ShouldContain("C5");
        report.GetProperty("recent_violations").GetArrayLength().ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task Conservation_DebtWithoutAClawback_ReportsC6()
    {
        var slug = await CommunityAsync();
        using var client = app.CreateAdminClient();
        await client.PostAsJsonAsync($"/api/v1/admin/communities/{slug}/grants", new { amount_micro = 100, reason = "r", idempotency_key = "k" });
        await app.Database.ExecuteAsync(
            $"UPDATE credit_accounts SET debt_micro = 5 WHERE community_id = (SELECT id FROM communities WHERE slug = '{slug}')");

        var report = await client.GetFromJsonAsync<JsonElement>($"/api/v1/admin/community/{slug}/conservation");

        report.GetProperty("status").GetString().ShouldBe("violated");
        report.GetProperty("invariants").EnumerateArray().Where(i => !i.GetProperty("ok").GetBoolean()).Select(i => i.GetProperty("id").GetString())
            .ShouldBe(["C6"]);
    }

    [Fact]
    public async Task Balance_UnknownCommunity_Is404()
    {
        using var client = app.CreateAdminClient();

        (await client.GetAsync("/api/v1/communities/nobody-here/balance")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
