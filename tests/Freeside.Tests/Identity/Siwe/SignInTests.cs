using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Identity.Siwe;

public sealed class SignInTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private readonly HttpClient _client = app.CreateClient();

    private Task<bool> IsConsumedAsync(string nonce) =>
        app.Database.ScalarAsync<bool>("SELECT consumed_at IS NOT NULL FROM siwe_nonces WHERE nonce = @n", ("n", nonce));

    private async Task RefusedAsync(HttpResponseMessage response, HttpStatusCode status, string type, string nonce)
    {
        response.StatusCode.ShouldBe(status, await response.Content.ReadAsStringAsync());
        (await IdentityHttp.ProblemTypeAsync(response)).ShouldBe(type);
        response.Headers.Contains("Set-Cookie").ShouldBeFalse();
        (await IsConsumedAsync(nonce)).ShouldBeFalse();
    }

    [Fact]
    public async Task Nonce_Issued_IsRandomHexValidFiveMinutesAndRecorded()
    {
        var response = await _client.GetAsync("/api/v1/auth/nonce");
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var nonce = body.GetProperty("nonce").GetString()!;

        nonce.ShouldMatch("^[0-9a-f]{32}$");
        (await IdentityHttp.NonceAsync(_client)).ShouldNotBe(nonce);
        body.GetProperty("expires_at").GetDateTimeOffset().ShouldBe(DateTimeOffset.UtcNow.AddMinutes(5), TimeSpan.FromSeconds(10));
        response.Headers.CacheControl!.NoStore.ShouldBeTrue();
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM siwe_nonces WHERE nonce = @n AND consumed_at IS NULL", ("n", nonce))).ShouldBe(1);
    }

    [Fact]
    public async Task SignIn_ValidMessage_ReturnsSessionTokenAndStrictCookie()
    {
        var wallet = TestWallet.Demo;
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = wallet.Message(nonce);

        var response = await IdentityHttp.SignInAsync(_client, message, wallet.Sign(message));

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("address").GetString().ShouldBe("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        body.GetProperty("chain_id").GetInt64().ShouldBe(31337);
        body.GetProperty("expires_at").GetDateTimeOffset().ShouldBe(DateTimeOffset.UtcNow.AddHours(1), TimeSpan.FromSeconds(10));
        var token = body.GetProperty("token").GetString()!;
        token.Split('.').Length.ShouldBe(3);
        var cookie = response.Headers.GetValues("Set-Cookie").Single();
        cookie.ShouldStartWith("freeside_session=" + token);
        cookie.ShouldContain("httponly", Case.Insensitive);
        cookie.ShouldContain("samesite=strict", Case.Insensitive);
        cookie.ShouldContain("path=/", Case.Insensitive);
        (await IsConsumedAsync(nonce)).ShouldBeTrue();

        var session = await app.CreateClient().WithBearer(token).GetFromJsonAsync<JsonElement>("/api/v1/auth/session");
        session.GetProperty("address").GetString().ShouldBe(wallet.Address.ToChecksumString());
    }

    [Fact]
    public async Task SignIn_ReplayedNonce_Is401()
    {
        var wallet = TestWallet.Demo;
        var message = wallet.Message(await IdentityHttp.NonceAsync(_client));
        var signature = wallet.Sign(message);
        (await IdentityHttp.SignInAsync(_client, message, signature)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var replay = await IdentityHttp.SignInAsync(_client, message, signature);

        replay.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await IdentityHttp.ProblemTypeAsync(replay)).ShouldBe("siwe-nonce-rejected");
    }

    [Fact]
    public async Task SignIn_SameMessageConcurrently_AcceptedExactlyOnce()
    {
        var wallet = TestWallet.Third;
        var message = wallet.Message(await IdentityHttp.NonceAsync(_client));
        var signature = wallet.Sign(message);

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => IdentityHttp.SignInAsync(app.CreateClient(), message, signature)));

        responses.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        responses.Count(r => r.StatusCode == HttpStatusCode.Unauthorized).ShouldBe(7);
    }

    [Fact]
    public async Task SignIn_UnknownNonce_Is401()
    {
        var wallet = TestWallet.Demo;
        var message = wallet.Message("0123456789abcdef0123456789abcdef");

        var response = await IdentityHttp.SignInAsync(_client, message, wallet.Sign(message));

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await IdentityHttp.ProblemTypeAsync(response)).ShouldBe("siwe-nonce-rejected");
    }

    [Theory]
    [InlineData("evil.example", "https://evil.example")]
    [InlineData("localhost:8443", "https://localhost:8443")]
    [InlineData("127.0.0.1:5080", "http://127.0.0.1:5080")]
    [InlineData("localhost", "https://evil.example/login")]
    public async Task SignIn_DomainOrUriNotThisHost_Is401(string domain, string uri)
    {
        var wallet = TestWallet.Demo;
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = wallet.Message(nonce, domain: domain, uri: uri);

        await RefusedAsync(await IdentityHttp.SignInAsync(_client, message, wallet.Sign(message)), HttpStatusCode.Unauthorized, "siwe-domain-mismatch", nonce);
    }

    [Fact]
    public async Task SignIn_ExpiredMessage_Is401()
    {
        var wallet = TestWallet.Demo;
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = wallet.Message(nonce, issuedAt: DateTimeOffset.UtcNow.AddMinutes(-10), expiresAt: DateTimeOffset.UtcNow.AddMinutes(-2));

        await RefusedAsync(await IdentityHttp.SignInAsync(_client, message, wallet.Sign(message)), HttpStatusCode.Unauthorized, "siwe-expired", nonce);
    }

    [Fact]
    public async Task SignIn_IssuedInTheFuture_Is401()
    {
        var wallet = TestWallet.Demo;
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = wallet.Message(nonce, issuedAt: DateTimeOffset.UtcNow.AddMinutes(10));

        await RefusedAsync(await IdentityHttp.SignInAsync(_client, message, wallet.Sign(message)), HttpStatusCode.Unauthorized, "siwe-issued-in-future", nonce);
    }

    [Fact]
    public async Task SignIn_ChainNotAllowed_Is401()
    {
        var wallet = TestWallet.Demo;
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = wallet.Message(nonce, chainId: 5);

        await RefusedAsync(await IdentityHttp.SignInAsync(_client, message, wallet.Sign(message)), HttpStatusCode.Unauthorized, "siwe-chain-not-allowed", nonce);
    }

    [Fact]
    public async Task SignIn_SignatureOfAnotherAddress_Is401()
    {
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = TestWallet.Demo.Message(nonce);

        await RefusedAsync(await IdentityHttp.SignInAsync(_client, message, TestWallet.Third.Sign(message)), HttpStatusCode.Unauthorized, "siwe-signature-mismatch", nonce);
    }

    [Theory]
    [InlineData("0x1234")]
    [InlineData("not hex at all")]
    [InlineData("0x" + "00")]
    public async Task SignIn_MalformedSignature_Is400(string signature)
    {
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = TestWallet.Demo.Message(nonce);

        await RefusedAsync(await IdentityHttp.SignInAsync(_client, message, signature), HttpStatusCode.BadRequest, "siwe-malformed-signature", nonce);
    }

    [Fact]
    public async Task SignIn_BadRecoveryIdOrZeroR_Is400()
    {
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = TestWallet.Demo.Message(nonce);
        var good = Convert.FromHexString(TestWallet.Demo.Sign(message)[2..]);
        var badV = (byte[])good.Clone();
        badV[64] = 29;
        var zeroR = (byte[])good.Clone();
        Array.Clear(zeroR, 0, 32);

        await RefusedAsync(await IdentityHttp.SignInAsync(_client, message, "0x" + Convert.ToHexString(badV)), HttpStatusCode.BadRequest, "siwe-malformed-signature", nonce);
        await RefusedAsync(await IdentityHttp.SignInAsync(_client, message, "0x" + Convert.ToHexString(zeroR)), HttpStatusCode.BadRequest, "siwe-malformed-signature", nonce);
    }

    [Fact]
    public async Task SignIn_HighSTwin_Is401()
    {
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = TestWallet.Demo.Message(nonce);
        var signature = Convert.FromHexString(TestWallet.Demo.Sign(message)[2..]);
        var n = System.Numerics.BigInteger.Parse("0FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", System.Globalization.NumberStyles.HexNumber);
        var s = new System.Numerics.BigInteger(signature.AsSpan(32, 32), isUnsigned: true, isBigEndian: true);
        (n - s).ToByteArray(isUnsigned: true, isBigEndian: true).CopyTo(signature.AsSpan(32));
        signature[64] = (byte)(signature[64] == 27 ? 28 : 27);

        await RefusedAsync(await IdentityHttp.SignInAsync(_client, message, "0x" + Convert.ToHexString(signature)), HttpStatusCode.Unauthorized, "siwe-high-s-signature", nonce);
    }

    [Fact]
    public async Task SignIn_LowerCaseAddress_Is400()
    {
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = TestWallet.Demo.Message(nonce, address: TestWallet.Demo.Address.ToChecksumString().ToLowerInvariant());

        var response = await IdentityHttp.SignInAsync(_client, message, TestWallet.Demo.Sign(message));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await IdentityHttp.ProblemTypeAsync(response)).ShouldBeOneOf("siwe-malformed-message", "siwe-bad-checksum");
        (await IsConsumedAsync(nonce)).ShouldBeFalse();
    }

    [Fact]
    public async Task SignIn_NotEip4361_Is400()
    {
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = TestWallet.Demo.Message(nonce).Replace("Version: 1", "Version: 2", StringComparison.Ordinal);

        await RefusedAsync(await IdentityHttp.SignInAsync(_client, message, TestWallet.Demo.Sign(message)), HttpStatusCode.BadRequest, "siwe-malformed-message", nonce);
    }

    [Fact]
    public async Task SignIn_MessageOver4KB_Is400NamingTheField()
    {
        var nonce = await IdentityHttp.NonceAsync(_client);
        var message = TestWallet.Demo.Message(nonce).Replace("Sign in to Freeside", new string('a', 4200), StringComparison.Ordinal);

        var response = await IdentityHttp.SignInAsync(_client, message, TestWallet.Demo.Sign(message));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("errors").TryGetProperty("message", out _).ShouldBeTrue();
        (await IsConsumedAsync(nonce)).ShouldBeFalse();
    }

    [Fact]
    public async Task SignIn_MessageExpiresIn20Seconds_SessionEndsNoLaterThanTheMessage()
    {
        var expiration = DateTimeOffset.UtcNow.AddSeconds(20);
        var message = TestWallet.Demo.Message(await IdentityHttp.NonceAsync(_client), expiresAt: expiration);

        var response = await IdentityHttp.SignInAsync(_client, message, TestWallet.Demo.Sign(message));

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("expires_at").GetDateTimeOffset().ShouldBeLessThanOrEqualTo(expiration);
        var token = new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(body.GetProperty("token").GetString());
        new DateTimeOffset(token.ValidTo, TimeSpan.Zero).ShouldBeLessThanOrEqualTo(expiration);
        response.Headers.GetValues("Set-Cookie").Single().ShouldContain("expires=", Case.Insensitive);
    }

    [Theory]
    [InlineData("[]", "body")]
    [InlineData("\"message\"", "body")]
    [InlineData("{\"message\": 5, \"signature\": \"0x00\"}", "message")]
    public async Task SignIn_BodyNotAnObjectOfStrings_Is400NamingTheField(string json, string field)
    {
        var response = await _client.PostAsync("/api/v1/auth/siwe", new StringContent(json, Encoding.UTF8, "application/json"));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain(field);
    }

    [Fact]
    public async Task SignIn_MissingFields_Is400NamingThem()
    {
        var response = await _client.PostAsync("/api/v1/auth/siwe", new StringContent("{}", Encoding.UTF8, "application/json"));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var errors = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
        errors.TryGetProperty("message", out _).ShouldBeTrue();
        errors.TryGetProperty("signature", out _).ShouldBeTrue();
    }
}
