using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Identity.Keys;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Identity.Keys;

public sealed class JwksTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private async Task<(JsonElement Keys, HttpResponseMessage Response)> JwksAsync()
    {
        var response = await app.CreateClient().GetAsync("/.well-known/jwks.json");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var document = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (document.GetProperty("keys"), response);
    }

    [Fact]
    public async Task Jwks_FirstStart_PublishesOneEs256PublicKey()
    {
        var (keys, response) = await JwksAsync();

        var key = keys.EnumerateArray().ShouldHaveSingleItem();
        key.GetProperty("kty").GetString().ShouldBe("EC");
        key.GetProperty("crv").GetString().ShouldBe("P-256");
        key.GetProperty("alg").GetString().ShouldBe("ES256");
        key.GetProperty("use").GetString().ShouldBe("sig");
        key.GetProperty("kid").GetString()!.ShouldMatch("^[A-Za-z0-9_-]{43}$");
        key.TryGetProperty("d", out _).ShouldBeFalse();
        response.Headers.CacheControl!.Public.ShouldBeTrue();
        response.Headers.CacheControl.MaxAge.ShouldBe(TimeSpan.FromSeconds(60));
        response.Headers.ETag!.IsWeak.ShouldBeFalse();
    }

    [Fact]
    public async Task Jwks_IfNoneMatchCurrentETag_Is304()
    {
        var (_, first) = await JwksAsync();
        var request = new HttpRequestMessage(HttpMethod.Get, "/.well-known/jwks.json");
        request.Headers.IfNoneMatch.Add(first.Headers.ETag!);

        var second = await app.CreateClient().SendAsync(request);

        second.StatusCode.ShouldBe(HttpStatusCode.NotModified);
        second.Headers.ETag.ShouldBe(first.Headers.ETag);
        (await second.Content.ReadAsByteArrayAsync()).ShouldBeEmpty();

        var stale = new HttpRequestMessage(HttpMethod.Get, "/.well-known/jwks.json");
        stale.Headers.IfNoneMatch.Add(new EntityTagHeaderValue("\"something-else\""));
        (await app.CreateClient().SendAsync(stale)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task PrivateKey_AtRest_IsSealedUnderTheKek()
    {
        var ciphertext = (await app.Database.ScalarAsync<byte[]>("SELECT private_key_ciphertext FROM jwks_keys WHERE retired_at IS NULL"))!;
        var kid = (await app.Database.ScalarAsync<string>("SELECT kid FROM jwks_keys WHERE retired_at IS NULL"))!;
        var snapshot = await app.Services.GetRequiredService<SigningKeyRing>().GetAsync(CancellationToken.None);
        var d = ((Microsoft.IdentityModel.Tokens.ECDsaSecurityKey)snapshot.Active!.Credentials.Key).ECDsa.ExportParameters(true).D!;

        ciphertext.Length.ShouldBe(60);
        ciphertext.AsSpan().IndexOf(d).ShouldBe(-1);
        var protector = app.Services.GetRequiredService<KeyProtector>();
        protector.TryOpen(ciphertext, kid).ShouldBe(d);
        protector.TryOpen(ciphertext, "another-kid").ShouldBeNull();
        var otherKek = new KeyProtector(app.Services.GetRequiredService<Freeside.Features.Identity.IdentitySettings>() with { KeyEncryptionKey = new byte[32] });
        otherKek.TryOpen(ciphertext, kid).ShouldBeNull();
        (await app.Database.ScalarAsync<string>("SELECT public_jwk FROM jwks_keys WHERE kid = @k", ("k", kid)))!.ShouldNotContain("\"d\"");
    }

    [Fact]
    public async Task Rotate_WithoutPlatformAdmin_Is401()
    {
        (await app.CreateClient().PostAsync("/api/v1/admin/signing-keys/rotate", null)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var session = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        (await app.CreateClient().WithBearer(session).PostAsync("/api/v1/admin/signing-keys/rotate", null)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }
}

/// <summary>Rotation changes the key set, so it runs on an app of its own.</summary>
public sealed class RotationTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Rotate_OldTokensKeepWorkingWithinGrace_AndRetiredKeyDropsAfterIt()
    {
        var before = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        var oldKid = await app.Database.ScalarAsync<string>("SELECT kid FROM jwks_keys WHERE retired_at IS NULL");
        var etag = (await app.CreateClient().GetAsync("/.well-known/jwks.json")).Headers.ETag;

        var rotated = await app.CreateAdminClient().PostAsync("/api/v1/admin/signing-keys/rotate", null);

        rotated.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await rotated.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("rotated").GetBoolean().ShouldBeTrue();
        body.GetProperty("retired_kid").GetString().ShouldBe(oldKid);
        var newKid = body.GetProperty("active_kid").GetString()!;
        newKid.ShouldNotBe(oldKid);

        var jwks = await app.CreateClient().GetAsync("/.well-known/jwks.json");
        jwks.Headers.ETag.ShouldNotBe(etag);
        var kids = (await jwks.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("kid").GetString()).ToList();
        kids.ShouldBe([newKid, oldKid]);
        (await app.CreateClient().WithBearer(before).GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var after = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(after).Kid.ShouldBe(newKid);

        await app.Database.ExecuteAsync($"UPDATE jwks_keys SET retired_at = now() - interval '25 hours', activated_at = now() - interval '26 hours', created_at = now() - interval '26 hours' WHERE kid = '{oldKid}'");
        await app.Services.GetRequiredService<SigningKeyRing>().RefreshAsync(CancellationToken.None);

        var later = await app.CreateClient().GetFromJsonAsync<JsonElement>("/.well-known/jwks.json");
        later.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("kid").GetString()).ShouldBe([newKid]);
        (await app.CreateClient().WithBearer(before).GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await app.CreateClient().WithBearer(after).GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ScheduledRotation_OnlyWhenTheKeyIsOlderThanTheMaximumAge()
    {
        var notDue = await app.SendAsync(new RotateSigningKey.Command(RotateSigningKey.Trigger.Scheduled));
        notDue.Value.Rotated.ShouldBeFalse();

        await app.Database.ExecuteAsync("UPDATE jwks_keys SET activated_at = now() - interval '91 days', created_at = now() - interval '91 days' WHERE retired_at IS NULL");
        var due = await app.SendAsync(new RotateSigningKey.Command(RotateSigningKey.Trigger.Scheduled));

        due.Value.Rotated.ShouldBeTrue();
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM jwks_keys WHERE retired_at IS NULL")).ShouldBe(1);
    }
}
