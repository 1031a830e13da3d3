using System.Security.Cryptography;
using Freeside.Features.Common.Errors;
using Freeside.Features.Identity.Keys;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Freeside.Features.Identity.S2S;

/// <summary>
/// Signs the service-to-service JWT Freeside sends to loa-finn (docs/finn-contract.md): ES256 with the
/// active key's kid, iss loa-freeside, aud loa-finn, 60 s, a new jti per request (retries included)
/// and req_hash over the exact body bytes. finn verifies it against /.well-known/jwks.json.
/// </summary>
public sealed class S2SJwtSigner(SigningKeyRing ring, TimeProvider time)
{
    public const string Issuer = "loa-freeside";
    public const string Audience = "loa-finn";
    public const string ContractVersion = "7.0.0";
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(60);

    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };

    public async Task<Result<SignedS2SToken>> SignAsync(S2SClaims claims, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var snapshot = await ring.GetAsync(cancellationToken);
        if (snapshot.Active is not { } active)
        {
            return new SigningKeyUnavailable();
        }

        var issuedAt = DateTimeOffset.FromUnixTimeSeconds(time.GetUtcNow().ToUnixTimeSeconds());
        var jti = Guid.NewGuid();
        var payload = new Dictionary<string, object>
        {
            [JwtRegisteredClaimNames.Iss] = Issuer,
            [JwtRegisteredClaimNames.Aud] = Audience,
            [JwtRegisteredClaimNames.Sub] = claims.Subject,
            [JwtRegisteredClaimNames.Iat] = issuedAt.ToUnixTimeSeconds(),
            [JwtRegisteredClaimNames.Exp] = (issuedAt + Lifetime).ToUnixTimeSeconds(),
            [JwtRegisteredClaimNames.Jti] = jti.ToString(),
            ["tenant_id"] = claims.TenantId.ToString(),
            ["tier"] = claims.Tier,
            ["allowed_pools"] = claims.AllowedPools.ToArray(),
            ["budget_reservation_id"] = claims.BudgetReservationId.ToString(),
            ["req_hash"] = RequestHash(body.Span),
            ["contract_version"] = ContractVersion,
        };
        if (claims.NftId is { } nftId)
        {
            payload["nft_id"] = nftId;
        }

        if (claims.PoolId is { } poolId)
        {
            payload["pool_id"] = poolId;
        }

        if (claims.Ensemble is { } ensemble)
        {
            payload["ensemble_strategy"] = ensemble.Strategy;
            payload["ensemble_n"] = ensemble.N;
            payload["ensemble_quorum"] = ensemble.Quorum;
        }

        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Claims = payload,
            SigningCredentials = active.Credentials,
            AdditionalHeaderClaims = new Dictionary<string, object> { [JwtHeaderParameterNames.Typ] = "JWT" },
        });
        return new SignedS2SToken(token, jti, active.Kid, issuedAt + Lifetime);
    }

    /// <summary>"sha256:" + lower-case hex of SHA-256 over the raw body bytes.</summary>
    public static string RequestHash(ReadOnlySpan<byte> body) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(body));

    /// <summary>"eip155:{chainId}/{contract}/{tokenId}", the contract lower-case.</summary>
    public static string NftId(long chainId, string contract, string tokenId) =>
        $"eip155:{chainId}/{contract.ToLowerInvariant()}/{tokenId}";
}

/// <summary>What Freeside asserts to finn about one request.</summary>
/// <param name="Subject">The wallet address, or "key:&lt;api key prefix&gt;".</param>
public sealed record S2SClaims(
    string Subject,
    Guid TenantId,
    string Tier,
    IReadOnlyList<string> AllowedPools,
    Guid BudgetReservationId,
    string? NftId = null,
    string? PoolId = null,
    S2SEnsemble? Ensemble = null);

public sealed record S2SEnsemble(string Strategy, int N, int Quorum);

public sealed record SignedS2SToken(string Token, Guid Jti, string Kid, DateTimeOffset ExpiresAt);
