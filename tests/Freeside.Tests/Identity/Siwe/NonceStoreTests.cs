using System.Net;
using Freeside.Tests.Infrastructure;
using StackExchange.Redis;

namespace Freeside.Tests.Identity.Siwe;

public sealed class NonceStoreTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Consumed_ThenRedisRestoredFromAnOldSnapshot_StillRefused()
    {
        var client = app.CreateClient();
        var nonce = await IdentityHttp.NonceAsync(client);
        var message = TestWallet.Demo.Message(nonce);
        var signature = TestWallet.Demo.Sign(message);
        (await IdentityHttp.SignInAsync(client, message, signature)).StatusCode.ShouldBe(HttpStatusCode.OK);

        using (var redis = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.RedisUrl!.Replace("redis://", "", StringComparison.Ordinal)))
        {
            await redis.GetDatabase().StringSetAsync(app.RedisKeyPrefix + "freeside:identity:siwe-nonce:" + nonce, "1", TimeSpan.FromMinutes(5));
        }

        (await IdentityHttp.SignInAsync(client, message, signature)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Issued_ThenRedisLostIt_FailsClosed()
    {
        var client = app.CreateClient();
        var nonce = await IdentityHttp.NonceAsync(client);
        using (var redis = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.RedisUrl!.Replace("redis://", "", StringComparison.Ordinal)))
        {
            (await redis.GetDatabase().KeyDeleteAsync(app.RedisKeyPrefix + "freeside:identity:siwe-nonce:" + nonce)).ShouldBeTrue();
        }

        var message = TestWallet.Demo.Message(nonce);
        (await IdentityHttp.SignInAsync(client, message, TestWallet.Demo.Sign(message))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task ExpiredInPostgres_IsRefused()
    {
        var client = app.CreateClient();
        var nonce = await IdentityHttp.NonceAsync(client);
        await app.Database.ExecuteAsync($"UPDATE siwe_nonces SET expires_at = now() - interval '1 second' WHERE nonce = '{nonce}'");

        var message = TestWallet.Demo.Message(nonce);
        (await IdentityHttp.SignInAsync(client, message, TestWallet.Demo.Sign(message))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }
}

/// <summary>Redis configured but unreachable: PostgreSQL alone keeps nonces single-use.</summary>
public sealed class NoRedisApp : FreesideApp
{
    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["REDIS_URL"] = "redis://127.0.0.1:1";
        return settings;
    }
}

public sealed class NonceStoreWithoutRedisTests(NoRedisApp app) : IClassFixture<NoRedisApp>
{
    [Fact]
    public async Task SignIn_RedisDown_WorksOnceThenRefusesTheReplay()
    {
        var client = app.CreateClient();
        var nonce = await IdentityHttp.NonceAsync(client);
        var message = TestWallet.Demo.Message(nonce);
        var signature = TestWallet.Demo.Sign(message);

        (await IdentityHttp.SignInAsync(client, message, signature)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await IdentityHttp.SignInAsync(client, message, signature)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await app.Database.ScalarAsync<bool>("SELECT cached_in_redis FROM siwe_nonces WHERE nonce = @n", ("n", nonce))).ShouldBeFalse();
    }

    [Fact]
    public async Task Logout_RedisDown_RevocationStillEnforced()
    {
        var token = await IdentityHttp.SessionTokenAsync(app, TestWallet.Third);
        var client = app.CreateClient().WithBearer(token);
        (await client.GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await client.PostAsync("/api/v1/auth/logout", null)).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        (await client.GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }
}
