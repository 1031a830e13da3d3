using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace Freeside.Features.Identity.Keys;

/// <summary>A fresh P-256 key pair: its RFC 7638 thumbprint as kid, the public JWK, and the private scalar.</summary>
public sealed record SigningKeyMaterial(string Kid, string PublicJwk, byte[] PrivateScalar)
{
    public static SigningKeyMaterial Generate()
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var parameters = ecdsa.ExportParameters(includePrivateParameters: true);
        var x = Base64UrlEncoder.Encode(parameters.Q.X);
        var y = Base64UrlEncoder.Encode(parameters.Q.Y);
        // RFC 7638: the required members in lexicographic order, no whitespace.
        var canonical = $$"""{"crv":"P-256","kty":"EC","x":"{{x}}","y":"{{y}}"}""";
        var kid = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
        var jwk = JsonSerializer.Serialize(new PublicJwk("EC", "P-256", x, y, kid, "sig", "ES256"), PublicJwkJson.Options);
        return new SigningKeyMaterial(kid, jwk, parameters.D!);
    }

    public static ECDsa PrivateKey(PublicJwk jwk, byte[] d) => ECDsa.Create(new ECParameters
    {
        Curve = ECCurve.NamedCurves.nistP256,
        Q = new ECPoint { X = Base64UrlEncoder.DecodeBytes(jwk.X), Y = Base64UrlEncoder.DecodeBytes(jwk.Y) },
        D = d,
    });

    public static ECDsa PublicKey(PublicJwk jwk) => ECDsa.Create(new ECParameters
    {
        Curve = ECCurve.NamedCurves.nistP256,
        Q = new ECPoint { X = Base64UrlEncoder.DecodeBytes(jwk.X), Y = Base64UrlEncoder.DecodeBytes(jwk.Y) },
    });
}

/// <summary>The published form of a key: exactly these members, never "d".</summary>
public sealed record PublicJwk(string Kty, string Crv, string X, string Y, string Kid, string Use, string Alg);

internal static class PublicJwkJson
{
    public static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
