using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Freeside.FinnStub;

/// <summary>The claims finn acts on, once the S2S token has verified.</summary>
public sealed record S2SClaims(string Subject, string TenantId, string? NftId, string Tier, string? PoolId, string ReservationId, string Jti, IReadOnlyDictionary<string, object?> All);

public sealed record S2SFailure(int Status, string Code, string Message);

/// <summary>
/// Verifies Freeside's ES256 service token strictly: ES256 only, keys only from the JWKS by kid,
/// iss/aud/exp with 5 s skew, single-use jti, and req_hash over the exact body bytes.
/// </summary>
public sealed class S2SAuth(JwksCache jwks, TimeProvider time)
{
    public const string ContractVersion = "7.0.0";
    private static readonly TimeSpan Skew = TimeSpan.FromSeconds(5);
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly ConcurrentDictionary<string, DateTimeOffset> _seenJti = new(StringComparer.Ordinal);
    private long _nextSweepTicks;

    public async Task<(S2SClaims? Claims, S2SFailure? Failure)> VerifyAsync(HttpRequest request, byte[] body, CancellationToken cancellationToken)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || header.Length <= 7)
        {
            return (null, new S2SFailure(401, "JWT_REQUIRED", "A bearer token is required."));
        }

        var raw = header[7..].Trim();
        JsonWebToken token;
        try
        {
            token = new JsonWebToken(raw);
        }
        catch (ArgumentException)
        {
            return (null, new S2SFailure(401, "JWT_INVALID", "The token is not a compact JWS."));
        }

        if (token.Alg != SecurityAlgorithms.EcdsaSha256 || token.TryGetHeaderValue<object>("jwk", out _) || token.TryGetHeaderValue<object>("jku", out _)
            || token.TryGetHeaderValue<object>("x5u", out _) || token.TryGetHeaderValue<object>("x5c", out _))
        {
            return (null, new S2SFailure(401, "JWT_INVALID", "Only ES256 tokens with a kid are accepted."));
        }

        var key = await jwks.FindAsync(token.Kid, cancellationToken);
        if (key is null)
        {
            return (null, new S2SFailure(401, "JWT_INVALID", "The token's kid is not in Freeside's key set."));
        }

        var result = await _handler.ValidateTokenAsync(raw, new TokenValidationParameters
        {
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            IssuerSigningKey = key,
            ValidIssuer = "loa-freeside",
            ValidAudience = "loa-finn",
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ClockSkew = Skew,
            TryAllIssuerSigningKeys = false,
        });
        if (!result.IsValid)
        {
            return (null, result.Exception switch
            {
                SecurityTokenExpiredException => new S2SFailure(401, "JWT_EXPIRED", "The token has expired."),
                SecurityTokenInvalidAudienceException => new S2SFailure(401, "AUDIENCE_MISMATCH", "The token is not for loa-finn."),
                SecurityTokenInvalidIssuerException => new S2SFailure(401, "ISSUER_NOT_ALLOWED", "The token's issuer is not allowed."),
                _ => new S2SFailure(401, "JWT_INVALID", "The token did not verify."),
            });
        }

        var claims = result.Claims;
        string? Claim(string name) => claims.TryGetValue(name, out var value) ? value?.ToString() : null;

        if (Claim("contract_version") is not { } version || version.Split('.')[0] != ContractVersion.Split('.')[0])
        {
            return (null, new S2SFailure(400, "INVALID_REQUEST", $"contract_version must be {ContractVersion}-compatible."));
        }

        if (Claim("jti") is not { Length: > 0 } jti || Claim("tenant_id") is not { Length: > 0 } tenant || Claim("tier") is not { } tier
            || Claim("budget_reservation_id") is not { Length: > 0 } reservation || Claim("sub") is not { Length: > 0 } subject)
        {
            return (null, new S2SFailure(401, "JWT_INVALID", "The token lacks jti, sub, tenant_id, tier or budget_reservation_id."));
        }

        var expected = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(body));
        if (Claim("req_hash") is not { } reqHash
            || !CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(reqHash), System.Text.Encoding.ASCII.GetBytes(expected)))
        {
            return (null, new S2SFailure(400, "REQ_HASH_MISMATCH", "req_hash does not match the request body."));
        }

        var now = time.GetUtcNow();
        SweepExpired(now);

        if (!_seenJti.TryAdd(jti, token.ValidTo.ToUniversalTime() + Skew))
        {
            return (null, new S2SFailure(401, "JTI_REPLAY_DETECTED", "This token's jti was already used."));
        }

        return (new S2SClaims(subject, tenant, Claim("nft_id"), tier, Claim("pool_id"), reservation, jti,
            claims.ToDictionary(c => c.Key, c => c.Value is JsonElement e ? (object?)e.ToString() : c.Value, StringComparer.Ordinal)), null);
    }

    /// <summary>
    /// Forgets used jtis whose tokens have expired (an expired token is refused before its jti is looked at),
    /// at most once a second: walking every remembered jti on every request made the stand-in's cost grow with
    /// its request rate (about 30,000 jtis at 500 requests/s).
    /// </summary>
    private void SweepExpired(DateTimeOffset now)
    {
        var due = Interlocked.Read(ref _nextSweepTicks);
        if (now.UtcTicks < due || Interlocked.CompareExchange(ref _nextSweepTicks, now.UtcTicks + TimeSpan.TicksPerSecond, due) != due)
        {
            return;
        }

        foreach (var (seen, expiry) in _seenJti)
        {
            if (expiry < now)
            {
                _seenJti.TryRemove(seen, out _);
            }
        }
    }
}
