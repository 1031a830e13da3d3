using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Freeside.Features.Identity.Keys;
using Freeside.Features.Identity.S2S;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;

namespace Freeside.Tests.Identity.Sessions;

public sealed class SessionTokenAttackTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private static string B64(byte[] bytes) => Base64UrlEncoder.Encode(bytes);

    private static string B64(object json) => B64(JsonSerializer.SerializeToUtf8Bytes(json));

    private static string SignEs256(ECDsa key, object header, object payload)
    {
        var input = B64(header) + "." + B64(payload);
        return input + "." + B64(key.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256));
    }

    private async Task<ECDsa> ActivePrivateKeyAsync()
    {
        var snapshot = await app.Services.GetRequiredService<SigningKeyRing>().GetAsync(CancellationToken.None);
        return ((ECDsaSecurityKey)snapshot.Active!.Credentials.Key).ECDsa;
    }

    private async Task<string> ActiveKidAsync() =>
        (await app.Services.GetRequiredService<SigningKeyRing>().GetAsync(CancellationToken.None)).Active!.Kid;

    private static Dictionary<string, object> Claims(string iss = "loa-freeside", string aud = "freeside-session", long? exp = null, long? nbf = null)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return new Dictionary<string, object>
        {
            ["iss"] = iss,
            ["aud"] = aud,
            ["sub"] = TestWallet.Demo.Address.ToChecksumString(),
            ["chain_id"] = 31337,
            ["jti"] = Guid.NewGuid().ToString(),
            ["iat"] = now,
            ["nbf"] = nbf ?? now,
            ["exp"] = exp ?? now + 3600,
        };
    }

    private async Task ShouldBeRefusedAsync(string token)
    {
        var response = await app.CreateClient().WithBearer(token).GetAsync("/api/v1/auth/session");
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Session_HandCraftedWithTheRealKey_IsAccepted()
    {
        // The control for every refusal below: the same crafting with nothing wrong passes.
        var token = SignEs256(await ActivePrivateKeyAsync(), new { alg = "ES256", typ = "JWT", kid = await ActiveKidAsync() }, Claims());

        (await app.CreateClient().WithBearer(token).GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Session_AlgNone_IsRefused()
    {
        var token = B64(new { alg = "none", typ = "JWT", kid = await ActiveKidAsync() }) + "." + B64(Claims()) + ".";

        await ShouldBeRefusedAsync(token);
    }

    [Fact]
    public async Task Session_Hs256WithThePublicKeyAsSecret_IsRefused()
    {
        var kid = await ActiveKidAsync();
        var jwks = await app.CreateClient().GetByteArrayAsync("/.well-known/jwks.json");
        var publicJwk = JsonDocument.Parse(jwks).RootElement.GetProperty("keys")[0].GetRawText();
        var point = (await ActivePrivateKeyAsync()).ExportSubjectPublicKeyInfo();
        foreach (var secret in new[] { Encoding.UTF8.GetBytes(publicJwk), point })
        {
            var input = B64(new { alg = "HS256", typ = "JWT", kid }) + "." + B64(Claims());
            var token = input + "." + B64(HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes(input)));

            await ShouldBeRefusedAsync(token);
        }
    }

    [Fact]
    public async Task Session_UnknownKid_IsRefused()
    {
        using var attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var kid = B64(RandomNumberGenerator.GetBytes(32));

        await ShouldBeRefusedAsync(SignEs256(attacker, new { alg = "ES256", typ = "JWT", kid }, Claims()));
    }

    [Theory]
    [InlineData("../../../../../../dev/null")]
    [InlineData("/etc/passwd")]
    [InlineData("' OR '1'='1")]
    [InlineData("")]
    public async Task Session_KidInjection_IsRefused(string kid)
    {
        using var attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        await ShouldBeRefusedAsync(SignEs256(attacker, new { alg = "ES256", typ = "JWT", kid }, Claims()));
    }

    [Fact]
    public async Task Session_Expired_IsRefused()
    {
        var past = DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds();

        await ShouldBeRefusedAsync(SignEs256(await ActivePrivateKeyAsync(), new { alg = "ES256", typ = "JWT", kid = await ActiveKidAsync() },
            Claims(exp: past, nbf: past - 3600)));
    }

    [Fact]
    public async Task Session_NotYetValid_IsRefused()
    {
        var future = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds();

        await ShouldBeRefusedAsync(SignEs256(await ActivePrivateKeyAsync(), new { alg = "ES256", typ = "JWT", kid = await ActiveKidAsync() },
            Claims(nbf: future)));
    }

    [Theory]
    [InlineData("loa-freeside", "loa-finn")]
    [InlineData("loa-freeside", "someone-else")]
    [InlineData("evil-issuer", "freeside-session")]
    public async Task Session_WrongAudienceOrIssuer_IsRefused(string iss, string aud)
    {
        await ShouldBeRefusedAsync(SignEs256(await ActivePrivateKeyAsync(), new { alg = "ES256", typ = "JWT", kid = await ActiveKidAsync() },
            Claims(iss, aud)));
    }

    [Fact]
    public async Task Session_S2STokenForFinn_IsRefused()
    {
        var signed = await app.Services.GetRequiredService<S2SJwtSigner>().SignAsync(
            new S2SClaims(TestWallet.Demo.Address.ToChecksumString(), Guid.NewGuid(), "free", ["cheap"], Guid.NewGuid()), "{}"u8.ToArray(), CancellationToken.None);

        await ShouldBeRefusedAsync(signed.Value.Token);
    }

    [Fact]
    public async Task Session_EmbeddedJwkOfTheAttacker_IsRefused()
    {
        using var attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var p = attacker.ExportParameters(false);
        var jwk = new { kty = "EC", crv = "P-256", x = B64(p.Q.X!), y = B64(p.Q.Y!) };

        await ShouldBeRefusedAsync(SignEs256(attacker, new { alg = "ES256", typ = "JWT", kid = await ActiveKidAsync(), jwk }, Claims()));
    }

    [Theory]
    [InlineData("jwk")]
    [InlineData("jku")]
    [InlineData("x5u")]
    [InlineData("x5c")]
    public async Task Session_KeyHeaderEvenWithTheRealKey_IsRefused(string header)
    {
        var kid = await ActiveKidAsync();
        var headers = new Dictionary<string, object> { ["alg"] = "ES256", ["typ"] = "JWT", ["kid"] = kid, [header] = header == "x5c" ? new[] { "MIIB" } : "https://evil.example/keys" };

        await ShouldBeRefusedAsync(SignEs256(await ActivePrivateKeyAsync(), headers, Claims()));
    }

    [Fact]
    public async Task Session_TamperedPayload_IsRefused()
    {
        var token = SignEs256(await ActivePrivateKeyAsync(), new { alg = "ES256", typ = "JWT", kid = await ActiveKidAsync() }, Claims());
        var parts = token.Split('.');
        var claims = Claims();
        claims["sub"] = TestWallet.Third.Address.ToChecksumString();

        await ShouldBeRefusedAsync(parts[0] + "." + B64(claims) + "." + parts[2]);
    }

    [Fact]
    public async Task Session_Es384OrRs256Header_IsRefused()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);

        await ShouldBeRefusedAsync(SignEs256(p384, new { alg = "ES384", typ = "JWT", kid = await ActiveKidAsync() }, Claims()));
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("a.b.c")]
    [InlineData("test-admin-token-0123456789abcdef")]
    public async Task Session_Garbage_IsRefused(string token)
    {
        await ShouldBeRefusedAsync(token);
    }
}
