using System.Net;
using System.Net.Http.Json;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;

namespace Freeside.Tests.Admin;

/// <summary>A community budget stops a real chat at its reservation; the chats it let through are attributed to the wallet.</summary>
public sealed class BudgetChatTests(ChatApp app) : IClassFixture<ChatApp>
{
    [Fact]
    public async Task Chat_PastTheMonthlyBudget_Is402AndReservesNothing()
    {
        await ChatHttp.CommunityAsync(app, "budgeted", app.Chain.Collection);
        // Token 1 lands on reviewer: a hold of 5,123 for "hi", a charge of 242; two fit under 5,400, the third's hold does not.
        var set = await app.CreateAdminClient().PutAsJsonAsync("/api/v1/admin/communities/budgeted/budget", new { monthly_cap_micro = 5_400 });
        set.StatusCode.ShouldBe(HttpStatusCode.OK, await set.Content.ReadAsStringAsync());
        var statuses = new List<HttpStatusCode>();
        string? refused = null;
        for (var i = 0; i < 3; i++)
        {
            var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, "budgeted", "1", new { message = "hi" });
            statuses.Add(response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            refused = response.StatusCode == HttpStatusCode.PaymentRequired ? body : refused;
        }

        statuses.ShouldBe([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.PaymentRequired]);
        refused!.ShouldContain("budget-exceeded");
        var community = await app.Database.ScalarAsync<Guid>("SELECT id FROM communities WHERE slug = 'budgeted'");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_reservations WHERE community_id = @c", ("c", community))).ShouldBe(2);
        (await app.Database.ScalarAsync<string>("SELECT string_agg(DISTINCT wallet, ',') FROM reservation_wallets WHERE community_id = @c", ("c", community)))
            .ShouldBe(TestWallet.Demo.Address.ToChecksumString().ToLowerInvariant());
        var export = await app.CreateAdminClient().GetStringAsync("/api/v1/admin/communities/budgeted/audit?format=csv");
        export.ShouldContain("," + TestWallet.Demo.Address.ToChecksumString() + ",");
        export.ShouldNotContain("hi\n");
    }
}
