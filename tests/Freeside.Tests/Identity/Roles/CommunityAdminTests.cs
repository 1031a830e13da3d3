using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Tests.Identity.Ownership;
using Freeside.Tests.Infrastructure;
using Freeside.Features.Identity.Keys;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Freeside.Tests.Identity.Roles;

public sealed class CommunityAdminTests(ChainApp app) : IClassFixture<ChainApp>, IAsyncLifetime
{
    // Demo holds tokens 1-3 of "alpha"; Third administers "alpha"; Deployer administers only "beta".
    public async Task InitializeAsync()
    {
        var admin = app.CreateAdminClient();
        foreach (var slug in new[] { "alpha", "beta" })
        {
            await admin.PostAsJsonAsync("/api/v1/admin/communities",
                new { slug, name = slug, chain_id = 31337, collection_address = app.Chain.Collection, default_access_level = "free" });
        }

        await admin.PostAsJsonAsync("/api/v1/admin/communities/alpha/admins", new { address = TestWallet.Third.Address.ToChecksumString() });
        await admin.PostAsJsonAsync("/api/v1/admin/communities/beta/admins", new { address = TestWallet.Deployer.Address.ToChecksumString() });
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private Task<HttpResponseMessage> ListAsync(HttpClient client) => client.GetAsync("/api/v1/communities/alpha/admins");

    [Fact]
    public async Task Admins_RightCommunityAdmin_Is200()
    {
        var response = await ListAsync(app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Third)));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var admins = await response.Content.ReadFromJsonAsync<JsonElement>();
        admins.GetProperty("items").EnumerateArray().Select(a => a.GetProperty("address").GetString()).ShouldBe([TestWallet.Third.Address.ToChecksumString()]);
    }

    [Fact]
    public async Task Admins_MoreThanLimit_PagesInTheOrderAdded()
    {
        var admin = app.CreateAdminClient();
        await admin.PostAsJsonAsync("/api/v1/admin/communities", new
        {
            slug = "gamma", name = "gamma", chain_id = 31337, collection_address = app.Chain.Collection, default_access_level = "free",
        });
        string[] wallets = [TestWallet.Third.Address.ToChecksumString(), TestWallet.Demo.Address.ToChecksumString(), TestWallet.Deployer.Address.ToChecksumString()];
        foreach (var wallet in wallets)
        {
            (await admin.PostAsJsonAsync("/api/v1/admin/communities/gamma/admins", new { address = wallet })).StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        var client = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Third));
        var first = await client.GetFromJsonAsync<JsonElement>("/api/v1/communities/gamma/admins?limit=2");
        var cursor = first.GetProperty("next_cursor").GetString()!;
        var second = await client.GetFromJsonAsync<JsonElement>("/api/v1/communities/gamma/admins?limit=2&cursor=" + Uri.EscapeDataString(cursor));

        first.GetProperty("items").EnumerateArray().Concat(second.GetProperty("items").EnumerateArray())
            .Select(a => a.GetProperty("address").GetString()).ShouldBe(wallets);
        second.GetProperty("next_cursor").ValueKind.ShouldBe(JsonValueKind.Null);
        (await client.GetAsync("/api/v1/communities/gamma/admins?limit=1000")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Admins_Anonymous_Is401()
    {
        (await ListAsync(app.CreateClient())).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Admins_GarbageToken_Is401()
    {
        (await ListAsync(app.CreateClient().WithBearer("eyJhbGciOiJFUzI1NiJ9.e30.AAAA"))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Admins_ExpiredAdminSession_Is401()
    {
        var ring = app.Services.GetRequiredService<SigningKeyRing>();
        var snapshot = await ring.GetAsync(CancellationToken.None);
        var past = DateTimeOffset.UtcNow.AddHours(-2);
        var expired = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "loa-freeside",
            Audience = "freeside-session",
            IssuedAt = past.UtcDateTime,
            NotBefore = past.UtcDateTime,
            Expires = past.AddHours(1).UtcDateTime,
            SigningCredentials = snapshot.Active!.Credentials,
            Claims = new Dictionary<string, object>
            {
                ["sub"] = TestWallet.Third.Address.ToChecksumString(),
                ["jti"] = Guid.NewGuid().ToString(),
                ["chain_id"] = 31337,
            },
        });

        (await ListAsync(app.CreateClient().WithBearer(expired))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Admins_Holder_Is403()
    {
        var holder = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        var nfts = await app.CreateClient().WithBearer(holder).GetFromJsonAsync<JsonElement>("/api/v1/me/nfts?community=alpha");
        nfts.GetProperty("holder").GetBoolean().ShouldBeTrue();

        (await ListAsync(app.CreateClient().WithBearer(holder))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Admins_AdminOfAnotherCommunity_Is403()
    {
        var other = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Deployer));

        (await ListAsync(other)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await other.GetAsync("/api/v1/communities/beta/admins")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Admins_PlatformAdminToken_DoesNotCount()
    {
        (await ListAsync(app.CreateAdminClient())).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Admins_LoggedOutAdmin_Is401()
    {
        var client = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Third));
        (await client.PostAsync("/api/v1/auth/logout", null)).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        (await ListAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Admins_UnknownCommunity_Is404()
    {
        var client = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Third));

        (await client.GetAsync("/api/v1/communities/nope/admins")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AddAdmin_OnlyPlatformAdmin_ValidatesAndRefusesDuplicates()
    {
        var body = new { address = TestWallet.Demo.Address.ToChecksumString() };
        var session = await IdentityHttp.SessionTokenAsync(app, TestWallet.Third);

        (await app.CreateClient().PostAsJsonAsync("/api/v1/admin/communities/beta/admins", body)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await app.CreateClient().WithBearer(session).PostAsJsonAsync("/api/v1/admin/communities/beta/admins", body)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await app.CreateAdminClient().PostAsJsonAsync("/api/v1/admin/communities/beta/admins", new { address = "0x70997970c51812dc3a010c7d01b50e0d17dc79C8" }))
            .StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await app.CreateAdminClient().PostAsJsonAsync("/api/v1/admin/communities/nope/admins", body)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        var created = await app.CreateAdminClient().PostAsJsonAsync("/api/v1/admin/communities/beta/admins", body);
        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("address").GetString().ShouldBe(TestWallet.Demo.Address.ToChecksumString());
        (await app.CreateAdminClient().PostAsJsonAsync("/api/v1/admin/communities/beta/admins", new { address = TestWallet.Demo.Address.ToChecksumString().ToLowerInvariant() }))
            .StatusCode.ShouldBe(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task CommunityAdmins_AsTheAppRoleWithoutTenantScope_SeesNothing()
    {
        await using var connection = new Npgsql.NpgsqlConnection(app.Database.AppConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM community_admins", connection);

        ((long)(await command.ExecuteScalarAsync())!).ShouldBe(0);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM community_admins")).ShouldBeGreaterThan(0);
    }
}
