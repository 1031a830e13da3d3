using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Freeside.Features.Common.RateLimiting;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Freeside.Tests.Common.RateLimiting;

/// <summary>
/// The host with the real default limits. The test server has no TCP connection, so a test names the
/// connection's address in X-Test-Connection-Ip (a test-only middleware); each test picks fresh
/// addresses and wallets because the counts live in the shared Redis for minutes.
/// </summary>
public class RateLimitedApp : FreesideApp
{
    public const string ProxyNetwork = "10.99.0.0/16";
    public const string Proxy = "10.99.0.1";

    public CapturingLoggerProvider Logs { get; } = new();

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        foreach (var policy in RateLimitPolicies.Defaults)
        {
            settings.Remove(policy.SettingName);
        }

        settings["FREESIDE_TRUSTED_PROXIES"] = ProxyNetwork;
        return settings;
    }

    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton<IStartupFilter, ConnectionAddressFromHeader>();
        services.AddSingleton<ILoggerProvider>(Logs);
    }

    public static string RandomIp() => $"100.{RandomNumberGenerator.GetInt32(64, 128)}.{RandomNumberGenerator.GetInt32(256)}.{RandomNumberGenerator.GetInt32(1, 255)}";

    public HttpClient ClientFrom(string connectionIp, string? forwardedFor = null)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Add("X-Test-Connection-Ip", connectionIp);
        if (forwardedFor is not null)
        {
            client.DefaultRequestHeaders.Add("X-Forwarded-For", forwardedFor);
        }

        return client;
    }

    private sealed class ConnectionAddressFromHeader : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                if (context.Request.Headers["X-Test-Connection-Ip"].ToString() is { Length: > 0 } ip)
                {
                    context.Connection.RemoteIpAddress = IPAddress.Parse(ip);
                }

                return nextMiddleware(context);
            });
            next(app);
        };
    }
}

/// <summary>Defaults, except the anonymous bucket, so the per-route limits are what answers.</summary>
public sealed class RouteLimitedApp : RateLimitedApp
{
    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["FREESIDE_RATE_LIMIT_ANONYMOUS"] = "1000000/1s,burst=1000000";
        return settings;
    }
}

/// <summary>Defaults, with a webhook allowance small enough to use up.</summary>
public sealed class WebhookLimitedApp : RateLimitedApp
{
    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["FREESIDE_RATE_LIMIT_WEBHOOK"] = "5/60s,burst=5";
        return settings;
    }
}

public sealed class WebhookRateLimitTests(WebhookLimitedApp app) : IClassFixture<WebhookLimitedApp>
{
    [Fact]
    public async Task Webhook_BurstBeyondTheAnonymousBucket_CountedByItsOwnPolicyOnly()
    {
        var client = app.ClientFrom(RateLimitedApp.RandomIp());

        // 30 unsigned IPNs in a row: more than the anonymous burst of 20, beyond the webhook's own 5.
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 30; i++)
        {
            using var body = new StringContent("""{"payment_id":1,"payment_status":"finished"}""", System.Text.Encoding.UTF8, "application/json");
            statuses.Add((await client.PostAsync("/api/crypto/webhook", body)).StatusCode);
        }

        statuses.Take(5).ShouldAllBe(s => s == HttpStatusCode.Unauthorized);
        statuses.Skip(5).ShouldAllBe(s => s == HttpStatusCode.TooManyRequests);
        using (var last = new StringContent("{}", System.Text.Encoding.UTF8, "application/json"))
        {
            await (await client.PostAsync("/api/crypto/webhook", last)).ShouldBeRateLimitedAsync(limit: 5);
        }

        // The anonymous bucket (burst 20) was not touched by the 31 IPNs.
        for (var i = 0; i < 20; i++)
        {
            (await client.GetAsync("/api/v1/communities/no-such-community")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        }
    }
}

/// <summary>As <see cref="RouteLimitedApp"/>, with Redis configured but unreachable.</summary>
public sealed class RouteLimitedNoRedisApp : RateLimitedApp
{
    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["FREESIDE_RATE_LIMIT_ANONYMOUS"] = "1000000/1s,burst=1000000";
        settings["REDIS_URL"] = "redis://127.0.0.1:1";
        return settings;
    }
}

internal static class RateLimitAssertions
{
    public static async Task ShouldBeRateLimitedAsync(this HttpResponseMessage response, int limit)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests, await response.Content.ReadAsStringAsync());
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("type").GetString().ShouldBe("https://freeside.dev/problems/rate-limited");
        problem.GetProperty("status").GetInt32().ShouldBe(429);

        var retryAfter = long.Parse(response.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        retryAfter.ShouldBeGreaterThanOrEqualTo(1);
        response.Headers.GetValues("X-RateLimit-Limit").Single().ShouldBe(limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        response.Headers.GetValues("X-RateLimit-Remaining").Single().ShouldBe("0");
        var reset = long.Parse(response.Headers.GetValues("X-RateLimit-Reset").Single(), System.Globalization.CultureInfo.InvariantCulture);
        reset.ShouldBeGreaterThan(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 1, "X-RateLimit-Reset is the Unix time when the allowance is full again");
    }
}

public sealed class AnonymousRateLimitTests(RateLimitedApp app) : IClassFixture<RateLimitedApp>
{
    private static async Task<List<HttpStatusCode>> BurstAsync(Func<HttpClient> client, int count)
    {
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < count; i++)
        {
            statuses.Add((await client().GetAsync("/api/v1/communities/no-such-community")).StatusCode);
        }

        return statuses;
    }

    [Fact]
    public async Task Anonymous_BurstOverTwenty_RefusedWith429AndHeaders()
    {
        var client = app.ClientFrom(RateLimitedApp.RandomIp());

        var statuses = await BurstAsync(() => client, 120);

        // The bucket starts full (20) and refills 100 a minute; 120 requests in a row cannot all fit.
        statuses.Take(20).ShouldAllBe(s => s == HttpStatusCode.NotFound);
        statuses.ShouldContain(HttpStatusCode.TooManyRequests);
        await (await client.GetAsync("/api/v1/communities/no-such-community")).ShouldBeRateLimitedAsync(limit: 20);
    }

    [Fact]
    public async Task Anonymous_SpoofedForwardedForWithoutTrustedProxy_CountsAgainstTheConnection()
    {
        var connection = RateLimitedApp.RandomIp();

        // A new made-up X-Forwarded-For on every request: the connection is not a trusted proxy, so it is ignored.
        var statuses = await BurstAsync(() => app.ClientFrom(connection, RateLimitedApp.RandomIp()), 120);

        statuses.ShouldContain(HttpStatusCode.TooManyRequests);
    }

    [Fact]
    public async Task Anonymous_BehindTrustedProxy_CountsPerForwardedClient()
    {
        var exhausted = RateLimitedApp.RandomIp();
        var statuses = await BurstAsync(() => app.ClientFrom(RateLimitedApp.Proxy, exhausted), 120);
        statuses.ShouldContain(HttpStatusCode.TooManyRequests);

        // Whatever the client writes left of the hop our proxy appended does not change whose count it is.
        var spoofed = await app.ClientFrom(RateLimitedApp.Proxy, $"{RateLimitedApp.RandomIp()}, {exhausted}").GetAsync("/api/v1/communities/x");
        spoofed.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);

        var other = await app.ClientFrom(RateLimitedApp.Proxy, RateLimitedApp.RandomIp()).GetAsync("/api/v1/communities/x");
        other.StatusCode.ShouldBe(HttpStatusCode.NotFound, "another client behind the same proxy has its own bucket");
    }

    [Fact]
    public async Task Anonymous_MadeUpBearerTokens_DrainTheSameBucket()
    {
        var ip = RateLimitedApp.RandomIp();
        for (var i = 0; i < 120; i++)
        {
            var client = app.ClientFrom(ip).WithBearer("not-a-token-" + i);
            (await client.GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }

        (await app.ClientFrom(ip).GetAsync("/api/v1/communities/x")).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
    }
}

public sealed class RouteRateLimitTests(RouteLimitedApp app) : IClassFixture<RouteLimitedApp>
{
    private static TestWallet RandomWallet() => new("0x" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));

    [Fact]
    public async Task Nonce_TwentyFirstInFiveMinutes_429AndNoNonceWritten()
    {
        var client = app.ClientFrom(RateLimitedApp.RandomIp());
        var before = await app.Database.ScalarAsync<long>("SELECT count(*) FROM siwe_nonces");
        for (var i = 0; i < 20; i++)
        {
            var response = await client.GetAsync("/api/v1/auth/nonce");
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            response.Headers.GetValues("X-RateLimit-Remaining").Single().ShouldBe((19 - i).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        await (await client.GetAsync("/api/v1/auth/nonce")).ShouldBeRateLimitedAsync(limit: 20);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM siwe_nonces")).ShouldBe(before + 20);
        (await app.ClientFrom(RateLimitedApp.RandomIp()).GetAsync("/api/v1/auth/nonce")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task SignIn_ThirtyFirstAttemptFromOneIp_429()
    {
        var client = app.ClientFrom(RateLimitedApp.RandomIp());
        for (var i = 0; i < 30; i++)
        {
            var wallet = RandomWallet();
            var message = wallet.Message("0123456789abcdef0123456789abcdef");
            (await IdentityHttp.SignInAsync(client, message, RandomWallet().Sign(message))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }

        await (await IdentityHttp.SignInAsync(client, "anything", "0x00")).ShouldBeRateLimitedAsync(limit: 30);
    }

    [Fact]
    public async Task SignIn_EleventhAttemptForOneWalletFromManyIps_429EvenWithAGoodSignature()
    {
        var wallet = RandomWallet();
        for (var i = 0; i < 10; i++)
        {
            var message = wallet.Message("0123456789abcdef0123456789abcdef");
            var refused = await IdentityHttp.SignInAsync(app.ClientFrom(RateLimitedApp.RandomIp()), message, RandomWallet().Sign(message));
            refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }

        var client = app.ClientFrom(RateLimitedApp.RandomIp());
        var good = wallet.Message(await IdentityHttp.NonceAsync(client));
        await (await IdentityHttp.SignInAsync(client, good, wallet.Sign(good))).ShouldBeRateLimitedAsync(limit: 10);

        var other = RandomWallet();
        var otherMessage = other.Message(await IdentityHttp.NonceAsync(client));
        (await IdentityHttp.SignInAsync(client, otherMessage, other.Sign(otherMessage))).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task MyNfts_MoreThanTwentyTokenIds_400NamingTokenId()
    {
        var wallet = RandomWallet();
        var client = app.ClientFrom(RateLimitedApp.RandomIp());
        var message = wallet.Message(await IdentityHttp.NonceAsync(client));
        var signIn = await IdentityHttp.SignInAsync(client, message, wallet.Sign(message));
        var token = (await signIn.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
        client.WithBearer(token);

        var tooMany = await client.GetAsync("/api/v1/me/nfts?community=none&" + string.Join('&', Enumerable.Range(1, 21).Select(i => $"token_id={i}")));
        var twenty = await client.GetAsync("/api/v1/me/nfts?community=none&" + string.Join('&', Enumerable.Range(1, 20).Select(i => $"token_id={i}")));

        tooMany.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await tooMany.Content.ReadAsStringAsync()).ShouldContain("token_id may be given at most 20 times");
        twenty.StatusCode.ShouldBe(HttpStatusCode.NotFound, "twenty ids pass validation; the community does not exist");
    }
}

public sealed class RateLimitFallbackHttpTests(RouteLimitedNoRedisApp app) : IClassFixture<RouteLimitedNoRedisApp>
{
    [Fact]
    public async Task Nonce_RedisDown_StillLimitedInMemoryCountedAndLogged()
    {
        var client = app.ClientFrom(RateLimitedApp.RandomIp());
        for (var i = 0; i < 20; i++)
        {
            (await client.GetAsync("/api/v1/auth/nonce")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        await (await client.GetAsync("/api/v1/auth/nonce")).ShouldBeRateLimitedAsync(limit: 20);
        app.ScrapeMetrics().ShouldContain("freeside_rate_limit_fallbacks_total{policy=\"siwe-nonce\",reason=\"unavailable\"} 21");
        app.Logs.Entries.ShouldContain(e => e.Level == LogLevel.Warning && e.Category.EndsWith("RateLimiter", StringComparison.Ordinal));
    }
}
