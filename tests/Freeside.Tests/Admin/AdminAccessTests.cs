using System.Net;
using System.Net.Http.Json;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Admin;

/// <summary>
/// Every admin view is for the platform admin and the community's own admins: a signed-out caller gets
/// 401, a wallet with no role or an admin of another community 403, and no response of one community
/// carries a row of another.
/// </summary>
public sealed class AdminAccessTests(FreesideApp app) : IClassFixture<FreesideApp>, IAsyncLifetime
{
    private const string OtherWallet = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    private AdminTestKit.TestCommunity _mine = null!;
    private AdminTestKit.TestCommunity _other = null!;
    private string _myAdmin = null!;
    private string _otherAdmin = null!;
    private string _noRole = null!;

    public static TheoryData<string> Views() =>
    [
        "/api/v1/admin/communities/{0}/usage?period=week",
        "/api/v1/admin/communities/{0}/billing",
        "/api/v1/admin/communities/{0}/agents",
        "/api/v1/admin/communities/{0}/pool-access",
        "/api/v1/admin/communities/{0}/conservation",
        "/api/v1/admin/communities/{0}/budget",
        "/api/v1/admin/communities/{0}/audit?format=jsonl",
        "/api/v1/admin/communities/{0}/audit?format=csv",
        "/api/v1/admin/community/{0}/usage",
        "/api/v1/admin/community/{0}/billing",
        "/api/v1/admin/community/{0}/agents",
        "/api/v1/admin/community/{0}/pool-access",
        "/api/v1/admin/community/{0}/budget",
        "/api/v1/admin/community/{0}/audit",
        "/api/v1/admin/community/{1}/usage",
        "/api/v1/admin/community/{1}/audit",
    ];

    public async Task InitializeAsync()
    {
        _mine = await app.CommunityAsync(2_000_000, TestWallet.Third.Address.ToChecksumString());
        _other = await app.CommunityAsync(2_000_000, TestWallet.Deployer.Address.ToChecksumString());
        await app.ChatSpendAsync(_mine, TestWallet.Demo.Address.ToChecksumString().ToLowerInvariant(), 100_000, 60_000);
        await app.ChatSpendAsync(_other, OtherWallet, 300_000, 250_000, "reviewer");
        _myAdmin = await IdentityHttp.SessionTokenAsync(app, TestWallet.Third);
        _otherAdmin = await IdentityHttp.SessionTokenAsync(app, TestWallet.Deployer);
        _noRole = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private string Url(string view, AdminTestKit.TestCommunity community) => string.Format(view, community.Slug, community.Id);

    [Theory]
    [MemberData(nameof(Views))]
    public async Task View_SignedOut_Is401(string view)
    {
        var response = await app.CreateClient().GetAsync(Url(view, _mine));

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [MemberData(nameof(Views))]
    public async Task View_WalletWithNoRole_Is403(string view)
    {
        var response = await app.CreateClient().WithBearer(_noRole).GetAsync(Url(view, _mine));

        response.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }

    [Theory]
    [MemberData(nameof(Views))]
    public async Task View_AdminOfAnotherCommunity_Is403(string view)
    {
        var response = await app.CreateClient().WithBearer(_otherAdmin).GetAsync(Url(view, _mine));

        response.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }

    [Theory]
    [MemberData(nameof(Views))]
    public async Task View_ThisCommunitysAdmin_Is200WithNothingOfAnotherCommunity(string view)
    {
        var otherIds = await app.Database.ScalarAsync<string>("""
            SELECT string_agg(id, ',') FROM (
                SELECT id::text AS id FROM credit_lots WHERE community_id = @c
                UNION ALL SELECT id::text FROM credit_reservations WHERE community_id = @c
                UNION ALL SELECT finalization_id FROM usage_events WHERE community_id = @c) t
            """, ("c", _other.Id));

        var response = await app.CreateClient().WithBearer(_myAdmin).GetAsync(Url(view, _mine));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await response.Content.ReadAsStringAsync();
        body.Length.ShouldBeGreaterThan(0);
        body.ShouldNotContain(OtherWallet, Case.Insensitive);
        body.ShouldNotContain(_other.Slug);
        body.ShouldNotContain(_other.Id.ToString());
        foreach (var id in otherIds!.Split(','))
        {
            body.ShouldNotContain(id);
        }
    }

    [Theory]
    [MemberData(nameof(Views))]
    public async Task View_PlatformAdmin_Is200(string view)
    {
        var response = await app.CreateAdminClient().GetAsync(Url(view, _mine));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task View_UnknownCommunity_Is404()
    {
        var response = await app.CreateAdminClient().GetAsync("/api/v1/admin/communities/no-such-community/usage");

        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task SetBudget_SignedOutNoRoleOrOtherAdmin_IsRefusedAndWritesNothing()
    {
        var body = new { monthly_cap_micro = 1, daily_cap_per_wallet_micro = 1 };
        var url = $"/api/v1/admin/communities/{_mine.Slug}/budget";

        (await app.CreateClient().PutAsJsonAsync(url, body)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await app.CreateClient().WithBearer(_noRole).PutAsJsonAsync(url, body)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await app.CreateClient().WithBearer(_otherAdmin).PutAsJsonAsync(url, body)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM community_budgets WHERE community_id = @c", ("c", _mine.Id))).ShouldBe(0);
    }

    [Fact]
    public async Task Dashboard_Page_IsServedWithoutABuildStepOrCdn()
    {
        var response = await app.CreateClient().GetAsync($"/admin/{_mine.Slug}");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        var html = await response.Content.ReadAsStringAsync();
        html.ShouldContain("/api/v1/admin/communities/");
        html.ShouldNotContain("<script src=\"http", Case.Insensitive);
        html.ShouldNotContain("<link rel=\"stylesheet\" href=\"http", Case.Insensitive);
    }
}
