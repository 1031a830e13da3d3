using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Freeside.FinnStub.Tests;

/// <summary>
/// The stand-in under test, plus a real HTTP JWKS endpoint on loopback playing Freeside's part,
/// and a signer that mints S2S tokens exactly as the contract describes.
/// </summary>
public sealed class StubFixture : IAsyncLifetime
{
    private WebApplication? _jwksHost;
    private WebApplicationFactory<Program>? _stub;

    public ECDsa Key { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public string Kid { get; } = "test-" + Guid.NewGuid().ToString("N")[..8];

    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var publicJwk = JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(ECDsa.Create(Key.ExportParameters(false))) { KeyId = Kid });
        var jwks = JsonSerializer.Serialize(new
        {
            keys = new[] { new { kty = publicJwk.Kty, crv = publicJwk.Crv, x = publicJwk.X, y = publicJwk.Y, kid = Kid, use = "sig", alg = "ES256" } },
        });
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _jwksHost = builder.Build();
        _jwksHost.MapGet("/.well-known/jwks.json", () => Results.Text(jwks, "application/json"));
        await _jwksHost.StartAsync();
        var jwksUrl = _jwksHost.Urls.First() + "/.well-known/jwks.json";

        _stub = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseSetting("FREESIDE_JWKS_URL", jwksUrl);
            b.UseSetting("FINN_STUB_FAULTS", "true");
            b.UseSetting("FINN_STUB_TOKENS", "24");
        });
        Client = _stub.CreateClient();
    }

    public Dictionary<string, object> Claims(byte[] body, string tier = "pro", string? poolId = null, string nftId = "eip155:31337/0x5fbdb2315678afecb367f032d93f642f64180aa3/1")
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var claims = new Dictionary<string, object>
        {
            ["iss"] = "loa-freeside",
            ["aud"] = "loa-finn",
            ["sub"] = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            ["iat"] = now,
            ["exp"] = now + 60,
            ["jti"] = Guid.NewGuid().ToString(),
            ["tenant_id"] = Guid.NewGuid().ToString(),
            ["nft_id"] = nftId,
            ["tier"] = tier,
            ["allowed_pools"] = new[] { "cheap" },
            ["budget_reservation_id"] = Guid.NewGuid().ToString(),
            ["req_hash"] = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(body)),
            ["contract_version"] = "7.0.0",
        };
        if (poolId is not null)
        {
            claims["pool_id"] = poolId;
        }

        return claims;
    }

    public string Sign(Dictionary<string, object> claims, SigningCredentials? credentials = null, IDictionary<string, object>? header = null) =>
        new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Claims = claims,
            SigningCredentials = credentials ?? new SigningCredentials(new ECDsaSecurityKey(Key) { KeyId = Kid }, SecurityAlgorithms.EcdsaSha256),
            AdditionalHeaderClaims = header,
        });

    public HttpRequestMessage Request(string path, byte[] body, string token, string? fault = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (fault is not null)
        {
            request.Headers.Add("X-Finn-Fault", fault);
        }

        return request;
    }

    public static byte[] Body(string text = "hello there, agent", int? maxTokens = null) =>
        Encoding.UTF8.GetBytes(JsonSerializer.Serialize(maxTokens is null
            ? new { messages = new[] { new { role = "user", content = text } } }
            : (object)new { messages = new[] { new { role = "user", content = text } }, max_tokens = maxTokens }));

    public static async Task<(HttpStatusCode Status, string Code)> ErrorOf(HttpResponseMessage response)
    {
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, document.RootElement.GetProperty("code").GetString()!);
    }

    public async Task DisposeAsync()
    {
        if (_stub is not null)
        {
            await _stub.DisposeAsync();
        }

        if (_jwksHost is not null)
        {
            await _jwksHost.DisposeAsync();
        }

        Key.Dispose();
    }
}
