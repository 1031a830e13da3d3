using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Identity.Sessions;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Freeside.Tests.Identity.Sessions;

/// <summary>On a Redis database of its own: it deletes revocation keys to play a Redis restart.</summary>
public sealed class SessionLifecycleApp : FreesideApp
{
    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["REDIS_URL"] = TestEnvironment.RedisUrl + "/11";
        return settings;
    }
}

public sealed class SessionLifecycleTests(SessionLifecycleApp app) : IClassFixture<SessionLifecycleApp>
{
    [Fact]
    public async Task Session_ByCookie_IsAccepted()
    {
        var token = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Add("Cookie", "freeside_session=" + token);

        var session = await client.GetFromJsonAsync<JsonElement>("/api/v1/auth/session");

        session.GetProperty("address").GetString().ShouldBe(TestWallet.Demo.Address.ToChecksumString());
        session.GetProperty("chain_id").GetInt64().ShouldBe(31337);
    }

    [Fact]
    public async Task Session_Anonymous_Is401()
    {
        (await app.CreateClient().GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Logout_RevokesTheTokenAndClearsTheCookie()
    {
        var token = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        var client = app.CreateClient().WithBearer(token);
        (await client.GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var logout = await client.PostAsync("/api/v1/auth/logout", null);

        logout.StatusCode.ShouldBe(HttpStatusCode.NoContent);
        logout.Headers.GetValues("Set-Cookie").Single().ShouldContain("freeside_session=;");
        var after = await client.GetAsync("/api/v1/auth/session");
        after.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await after.Content.ReadAsStringAsync()).ShouldContain("logged out");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM revoked_sessions")).ShouldBeGreaterThanOrEqualTo(1);
    }

    [Fact]
    public async Task Logout_ThenRedisLosesEverything_TokenStaysRevoked()
    {
        var token = await IdentityHttp.SessionTokenAsync(app, TestWallet.Third);
        var client = app.CreateClient().WithBearer(token);
        (await client.PostAsync("/api/v1/auth/logout", null)).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        var jti = await app.Database.ScalarAsync<Guid>("SELECT jti FROM revoked_sessions ORDER BY revoked_at DESC LIMIT 1");

        using (var redis = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.RedisUrl!.Replace("redis://", "", StringComparison.Ordinal) + ",defaultDatabase=11"))
        {
            await redis.GetDatabase().KeyDeleteAsync(app.RedisKeyPrefix + RevocationList.Key(jti));
        }

        (await client.GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task IsRevoked_RevocationMissingFromRedisAndProcess_PostgresStillRefuses()
    {
        // Another replica logged the token out while Redis was away: only PostgreSQL knows.
        var token = await IdentityHttp.SessionTokenAsync(app, TestWallet.Third);
        var client = app.CreateClient().WithBearer(token);
        (await client.GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var session = (await app.Services.GetRequiredService<SessionTokens>().ValidateAsync(token, CancellationToken.None)).Session!;

        await app.Database.ExecuteAsync(
            $"INSERT INTO revoked_sessions (jti, revoked_at, expires_at) VALUES ('{session.Jti}', now(), now() + interval '1 hour')");

        (await client.GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Logout_Anonymous_Is401()
    {
        (await app.CreateClient().PostAsync("/api/v1/auth/logout", null)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }
}
