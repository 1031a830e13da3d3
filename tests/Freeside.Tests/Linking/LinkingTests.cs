using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Linking;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Freeside.Tests.Linking;

/// <summary>Records every <see cref="WalletLinked"/> the app publishes.</summary>
public sealed class LinkingApp : FreesideApp
{
    /// <summary>Shared by every app in the run (handlers here are found by assembly scanning); tests use their own user ids.</summary>
    public ConcurrentQueue<WalletLinked> Published => Recorder.Published;

    public sealed class Recorder : INotificationHandler<WalletLinked>
    {
        public static ConcurrentQueue<WalletLinked> Published { get; } = new();

        public Task Handle(WalletLinked notification, CancellationToken cancellationToken)
        {
            Published.Enqueue(notification);
            return Task.CompletedTask;
        }
    }

    protected override void ConfigureServices(IServiceCollection services) =>
        services.TryAddEnumerable(ServiceDescriptor.Transient<INotificationHandler<WalletLinked>, Recorder>());
}

public sealed class LinkingTests(LinkingApp app) : IClassFixture<LinkingApp>
{
    private readonly HttpClient _client = app.CreateClient();

    private async Task<string> StartAsync(string userId, LinkPlatform platform = LinkPlatform.Telegram)
    {
        var started = await app.SendAsync(new StartLink.Command(platform, userId, "Ada"));
        started.IsSuccess.ShouldBeTrue(started.Error?.Detail);
        started.Value.ExpiresAt.ShouldBe(DateTimeOffset.UtcNow.AddMinutes(15), TimeSpan.FromSeconds(10));
        return started.Value.Url.AbsolutePath.Replace("/link/", "", StringComparison.Ordinal);
    }

    /// <summary>The message the link page builds: Request ID is the token, the statement names the platform.</summary>
    private async Task<(string Message, string Signature)> SignedAsync(TestWallet wallet, string token, string? requestId = null)
    {
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = "localhost wants you to sign in with your Ethereum account:\n"
            + wallet.Address.ToChecksumString() + "\n\n"
            + "Link my Telegram account to this wallet on Freeside.\n\n"
            + $"URI: http://localhost/link/{token}\nVersion: 1\nChain ID: 31337\nNonce: {nonce}\n"
            + $"Issued At: {SiweMessage.FormatTimestamp(DateTimeOffset.UtcNow)}\n"
            + $"Expiration Time: {SiweMessage.FormatTimestamp(DateTimeOffset.UtcNow.AddMinutes(10))}\n"
            + $"Request ID: {requestId ?? token}";
        return (message, wallet.Sign(message));
    }

    private async Task<HttpResponseMessage> CompleteAsync(string token, TestWallet wallet, string? requestId = null)
    {
        var (message, signature) = await SignedAsync(wallet, token, requestId);
        return await _client.PostAsJsonAsync($"/api/v1/links/{token}", new { message, signature });
    }

    private async Task<EthereumAddress?> LinkedAsync(string userId, LinkPlatform platform = LinkPlatform.Telegram) =>
        (await app.SendAsync(new FindLinkedWallet.Query(platform, userId))).Value.Wallet;

    private int PublishedFor(string userId) => app.Published.Count(p => p.ExternalUserId == userId);

    [Fact]
    public async Task Complete_SignedByWallet_LinksTheUserAndAnnouncesItOnce()
    {
        var token = await StartAsync("1001");
        var open = await _client.GetFromJsonAsync<JsonElement>($"/api/v1/links/{token}");
        open.GetProperty("status").GetString().ShouldBe("open");
        open.GetProperty("attempts_left").GetInt32().ShouldBe(3);
        open.GetProperty("platform").GetString().ShouldBe("telegram");
        open.GetProperty("chain_ids").EnumerateArray().Select(c => c.GetInt64()).ShouldContain(31337);

        var response = await CompleteAsync(token, TestWallet.Demo);

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("wallet").GetString().ShouldBe(TestWallet.Demo.Address.ToChecksumString());
        (await LinkedAsync("1001")).ShouldBe(TestWallet.Demo.Address);
        (await LinkedAsync("1001", LinkPlatform.Discord)).ShouldBeNull();
        app.Published.Single(p => p.ExternalUserId == "1001").ShouldBe(new WalletLinked(LinkPlatform.Telegram, "1001", TestWallet.Demo.Address));
        (await _client.GetFromJsonAsync<JsonElement>($"/api/v1/links/{token}")).GetProperty("status").GetString().ShouldBe("used");
    }

    [Fact]
    public async Task Complete_LinkAlreadyUsed_409AndTheFirstWalletStays()
    {
        var token = await StartAsync("1002");
        (await CompleteAsync(token, TestWallet.Demo)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var again = await CompleteAsync(token, TestWallet.Third);

        again.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await IdentityHttp.ProblemTypeAsync(again)).ShouldBe("link-used");
        (await LinkedAsync("1002")).ShouldBe(TestWallet.Demo.Address);
        PublishedFor("1002").ShouldBe(1);
    }

    [Fact]
    public async Task Complete_MessageForAnotherLink_RefusedAndTheAttemptIsSpent()
    {
        var token = await StartAsync("1003");
        var other = await StartAsync("1003-other");

        var response = await CompleteAsync(token, TestWallet.Demo, requestId: other);

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await IdentityHttp.ProblemTypeAsync(response)).ShouldBe("link-mismatch");
        (await LinkedAsync("1003")).ShouldBeNull();
        (await _client.GetFromJsonAsync<JsonElement>($"/api/v1/links/{token}")).GetProperty("attempts_left").GetInt32().ShouldBe(2);
        PublishedFor("1003").ShouldBe(0);
    }

    [Fact]
    public async Task Complete_AfterThreeFailedAttempts_RefusedEvenWithAGoodSignature()
    {
        var token = await StartAsync("1004");
        for (var i = 0; i < 3; i++)
        {
            var (message, _) = await SignedAsync(TestWallet.Demo, token);
            var bad = await _client.PostAsJsonAsync($"/api/v1/links/{token}", new { message, signature = TestWallet.Third.Sign(message) });
            bad.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }

        var good = await CompleteAsync(token, TestWallet.Demo);

        good.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await IdentityHttp.ProblemTypeAsync(good)).ShouldBe("link-attempts-exhausted");
        (await LinkedAsync("1004")).ShouldBeNull();
    }

    [Fact]
    public async Task Complete_EmptyBody_400WithoutSpendingAnAttempt()
    {
        var token = await StartAsync("1005");

        var response = await _client.PostAsJsonAsync($"/api/v1/links/{token}", new { message = "", signature = "" });

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await _client.GetFromJsonAsync<JsonElement>($"/api/v1/links/{token}")).GetProperty("attempts_left").GetInt32().ShouldBe(3);
    }

    [Fact]
    public async Task Complete_Expired_409()
    {
        var token = await StartAsync("1006");
        await app.Database.ExecuteAsync("UPDATE link_requests SET expires_at = now() - interval '1 second' WHERE external_user_id = '1006'");

        var response = await CompleteAsync(token, TestWallet.Demo);

        response.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await IdentityHttp.ProblemTypeAsync(response)).ShouldBe("link-expired");
        (await LinkedAsync("1006")).ShouldBeNull();
    }

    [Fact]
    public async Task Complete_SecondLinkOfTheSameUser_ReplacesTheWallet()
    {
        (await CompleteAsync(await StartAsync("1007"), TestWallet.Demo)).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await CompleteAsync(await StartAsync("1007"), TestWallet.Third)).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await LinkedAsync("1007")).ShouldBe(TestWallet.Third.Address);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM wallet_links WHERE external_user_id = '1007'")).ShouldBe(1);
    }

    [Fact]
    public async Task Complete_RacingSignaturesOfDifferentWallets_ExactlyOneLinks()
    {
        var token = await StartAsync("1008");
        var wallets = new[] { TestWallet.Demo, TestWallet.Third, TestWallet.Deployer, TestWallet.Demo, TestWallet.Third, TestWallet.Deployer };
        var signed = await Task.WhenAll(wallets.Select(w => SignedAsync(w, token)));

        var responses = await Task.WhenAll(signed.Select(s => _client.PostAsJsonAsync($"/api/v1/links/{token}", new { message = s.Message, signature = s.Signature })));

        responses.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        responses.Where(r => r.StatusCode != HttpStatusCode.OK).ShouldAllBe(r => r.StatusCode == HttpStatusCode.Conflict);
        var winner = await responses.Single(r => r.StatusCode == HttpStatusCode.OK).Content.ReadFromJsonAsync<JsonElement>();
        (await LinkedAsync("1008"))!.Value.ToChecksumString().ShouldBe(winner.GetProperty("wallet").GetString());
        PublishedFor("1008").ShouldBe(1);
    }

    [Theory]
    [InlineData("short")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!")]
    public async Task Get_MalformedToken_400NamingTheToken(string token)
    {
        var response = await _client.GetAsync($"/api/v1/links/{Uri.EscapeDataString(token)}");

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain("token");
    }

    [Fact]
    public async Task Get_UnknownToken_404()
    {
        var response = await _client.GetAsync($"/api/v1/links/{LinkTokens.New()}");

        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Page_IsNeverCachedAndLoadsTheSiweScriptFromFreeside()
    {
        var token = await StartAsync("1009");

        var page = await _client.GetAsync($"/link/{token}");
        var script = await _client.GetAsync("/assets/identity/siwe.js");

        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        page.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        page.Headers.CacheControl!.NoStore.ShouldBeTrue();
        page.Headers.GetValues("Referrer-Policy").ShouldBe(["no-referrer"]);
        (await page.Content.ReadAsStringAsync()).ShouldContain("<script src=\"/assets/identity/siwe.js\"></script>");
        script.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await script.Content.ReadAsStringAsync()).ShouldContain("checksumAddress");

        using var revalidate = new HttpRequestMessage(HttpMethod.Get, "/assets/identity/siwe.js");
        revalidate.Headers.TryAddWithoutValidation("If-None-Match", script.Headers.ETag!.Tag);
        (await _client.SendAsync(revalidate)).StatusCode.ShouldBe(HttpStatusCode.NotModified);
    }
}
