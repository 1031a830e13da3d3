using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Identity.Keys;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Freeside.Tests.Identity.Keys;

public sealed class RevokeSigningKeyTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private static readonly object Reason = new { reason = "private key found in a public paste" };

    private async Task<List<string>> PublishedKidsAsync(HttpClient? client = null) =>
        (await (client ?? app.CreateClient()).GetFromJsonAsync<JsonElement>("/.well-known/jwks.json"))
            .GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("kid").GetString()!).ToList();

    private Task<HttpResponseMessage> RevokeAsync(string kid, HttpClient? client = null) =>
        (client ?? app.CreateAdminClient()).PostAsJsonAsync($"/api/v1/admin/signing-keys/{kid}/revoke", Reason);

    private static Task<HttpStatusCode> SessionStatusAsync(HttpClient client, string token) =>
        client.WithBearer(token).GetAsync("/api/v1/auth/session").ContinueWith(t => t.Result.StatusCode, TaskScheduler.Default);

    [Fact]
    public async Task Revoke_ActiveKey_LeavesJwksRefusesItsTokensAtOnceAndActivatesANewKey()
    {
        var token = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        var kid = new JsonWebToken(token).Kid;
        (await SessionStatusAsync(app.CreateClient(), token)).ShouldBe(HttpStatusCode.OK, "verified once, so it sits in the verified-token cache");

        var response = await RevokeAsync(kid);

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("was_active").GetBoolean().ShouldBeTrue();
        var replacement = body.GetProperty("replacement_kid").GetString()!;
        (await SessionStatusAsync(app.CreateClient(), token)).ShouldBe(HttpStatusCode.Unauthorized);
        (await PublishedKidsAsync()).ShouldNotContain(kid);
        (await PublishedKidsAsync()).ShouldContain(replacement);
        var fresh = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        new JsonWebToken(fresh).Kid.ShouldBe(replacement);
        (await SessionStatusAsync(app.CreateClient(), fresh)).ShouldBe(HttpStatusCode.OK);
        (await app.Database.ScalarAsync<string>("SELECT revoked_reason FROM jwks_keys WHERE kid = @k AND revoked_at IS NOT NULL", ("k", kid)))
            .ShouldBe("private key found in a public paste");
    }

    [Fact]
    public async Task Revoke_RetiredKeyInItsGrace_TokensRefusedAndNeverPublishedAgain()
    {
        var token = await IdentityHttp.SessionTokenAsync(app, TestWallet.Third);
        var kid = new JsonWebToken(token).Kid;
        (await app.CreateAdminClient().PostAsync("/api/v1/admin/signing-keys/rotate", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await SessionStatusAsync(app.CreateClient(), token)).ShouldBe(HttpStatusCode.OK, "a retired key verifies during its grace");

        var response = await RevokeAsync(kid);
        var again = await RevokeAsync(kid);
        await app.Services.GetRequiredService<SigningKeyRing>().RefreshAsync(CancellationToken.None);

        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("was_active").GetBoolean().ShouldBeFalse();
        (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("already_revoked").GetBoolean().ShouldBeTrue();
        (await SessionStatusAsync(app.CreateClient(), token)).ShouldBe(HttpStatusCode.Unauthorized);
        (await PublishedKidsAsync()).ShouldNotContain(kid);
    }

    [Fact]
    public async Task Revoke_SecondReplica_DropsTheKeyWithoutWaitingForItsReload()
    {
        await using var replica = SecondReplica();
        var token = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        var kid = new JsonWebToken(token).Kid;
        (await SessionStatusAsync(replica.CreateClient(), token)).ShouldBe(HttpStatusCode.OK);

        (await RevokeAsync(kid)).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Redis pub/sub carries it; the replica's own reload would take up to a minute.
        var refused = false;
        for (var i = 0; i < 100 && !refused; i++)
        {
            refused = await SessionStatusAsync(replica.CreateClient(), token) == HttpStatusCode.Unauthorized;
            if (!refused)
            {
                await Task.Delay(100);
            }
        }

        refused.ShouldBeTrue();
        (await PublishedKidsAsync(replica.CreateClient())).ShouldNotContain(kid);
    }

    [Fact]
    public async Task Revoke_ReplicaWithoutRedis_RefusesAfterItsReloadFromPostgres()
    {
        await using var replica = SecondReplica(redisUrl: "redis://127.0.0.1:1");
        var token = await IdentityHttp.SessionTokenAsync(app, TestWallet.Third);
        var kid = new JsonWebToken(token).Kid;
        (await SessionStatusAsync(replica.CreateClient(), token)).ShouldBe(HttpStatusCode.OK);

        (await RevokeAsync(kid)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await replica.Services.GetRequiredService<SigningKeyRing>().RefreshAsync(CancellationToken.None);

        (await SessionStatusAsync(replica.CreateClient(), token)).ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Ring_ReloadBeforeTheRevocationCommits_KeepsReloadingUntilItDoes()
    {
        var ring = app.Services.GetRequiredService<SigningKeyRing>();
        var kid = (await app.Database.ScalarAsync<string>("SELECT kid FROM jwks_keys WHERE retired_at IS NULL"))!;

        // What the handler does inside its transaction; a reload now still reads the key as live.
        ring.Revoke(kid);
        var beforeCommit = await ring.RefreshAsync(CancellationToken.None);
        var next = await ring.GetAsync(CancellationToken.None);

        beforeCommit.Published.ShouldNotContainKey(kid);
        next.ShouldNotBeSameAs(beforeCommit, "a reload that predates the commit is not kept for a minute");

        var revoked = await RevokeAsync(kid);
        var replacement = (await revoked.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("replacement_kid").GetString()!;
        var afterCommit = await ring.GetAsync(CancellationToken.None);
        afterCommit.Active!.Kid.ShouldBe(replacement);
        (await ring.GetAsync(CancellationToken.None)).ShouldBeSameAs(afterCommit, "once the database shows it, the snapshot is kept again");
    }

    [Fact]
    public async Task Revoke_NotAdminUnknownOrMalformedKid_RefusedAndNothingChanges()
    {
        var kid = (await PublishedKidsAsync()).First();
        var session = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);

        (await RevokeAsync(kid, app.CreateClient())).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await RevokeAsync(kid, app.CreateClient().WithBearer(session))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await RevokeAsync(new string('A', 43))).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await RevokeAsync("not-a-kid")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await app.CreateAdminClient().PostAsJsonAsync($"/api/v1/admin/signing-keys/{kid}/revoke", new { reason = "" })).StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        (await PublishedKidsAsync()).ShouldContain(kid);
    }

    private WebApplicationFactory<Program> SecondReplica(string? redisUrl = null)
    {
        var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Development");
            builder.UseSetting("DATABASE_URL", app.Database.AppConnectionString);
            builder.UseSetting("DATABASE_MIGRATION_URL", app.Database.OwnerConnectionString);
            builder.UseSetting("REDIS_URL", redisUrl ?? TestEnvironment.RedisUrl ?? "");
            builder.UseSetting("REDIS_KEY_PREFIX", app.RedisKeyPrefix);
            builder.UseSetting("FREESIDE_ADMIN_TOKEN", FreesideApp.AdminToken);
            builder.UseSetting("FREESIDE_JOBS_ENABLED", "false");
        });
        _ = factory.Server;
        return factory;
    }
}
