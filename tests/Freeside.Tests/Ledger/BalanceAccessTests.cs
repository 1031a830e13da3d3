using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Ledger;

/// <summary>The balance is for the platform admin and the community's own admins, and nobody else.</summary>
public sealed class BalanceAccessTests(FreesideApp app) : IClassFixture<FreesideApp>, IAsyncLifetime
{
    private string _slug = null!;

    public async Task InitializeAsync()
    {
        _slug = (await app.FundedCommunityAsync(1_234)).Slug;
        var other = (await app.FundedCommunityAsync(0)).Slug;
        using var admin = app.CreateAdminClient();
        (await admin.PostAsJsonAsync($"/api/v1/admin/communities/{_slug}/admins", new { address = TestWallet.Third.Address.ToChecksumString() }))
            .EnsureSuccessStatusCode();
        (await admin.PostAsJsonAsync($"/api/v1/admin/communities/{other}/admins", new { address = TestWallet.Deployer.Address.ToChecksumString() }))
            .EnsureSuccessStatusCode();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private Task<HttpResponseMessage> BalanceAsync(HttpClient client) => client.GetAsync($"/api/v1/communities/{_slug}/balance");

    [Fact]
    public async Task Balance_PlatformAdmin_Is200()
    {
        var response = await BalanceAsync(app.CreateAdminClient());

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("available_micro").GetInt64().ShouldBe(1_234);
    }

    [Fact]
    public async Task Balance_ThisCommunitysAdmin_Is200()
    {
        var response = await BalanceAsync(app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Third)));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("available_micro").GetInt64().ShouldBe(1_234);
    }

    [Fact]
    public async Task Balance_AnotherCommunitysAdmin_Is403()
    {
        var response = await BalanceAsync(app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Deployer)));

        response.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Balance_SignedInWalletWithNoRole_Is403()
    {
        var response = await BalanceAsync(app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo)));

        response.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-token")]
    public async Task Balance_Anonymous_Is401(string? bearer)
    {
        var client = app.CreateClient();
        if (bearer is not null)
        {
            client.WithBearer(bearer);
        }

        (await BalanceAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }
}
