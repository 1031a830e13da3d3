using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Identity.Keys;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Freeside.Features.Identity.Sessions;

/// <summary>
/// Issues and validates the ES256 session tokens a wallet gets after SIWE. Validation trusts nothing
/// in the token's header but the kid, and looks that up by exact match in our own key set: alg is
/// pinned to ES256, and a header that carries jwk/jku/x5u/x5c (keys or key locations) is refused.
/// A token that verified once is remembered, by its exact text, until it expires, so repeat requests
/// skip the curve arithmetic; revocation is checked separately on every request.
/// </summary>
public sealed partial class SessionTokens
{
    public const string Issuer = "loa-freeside";
    public const string Audience = "freeside-session";
    public const int MaxTokenLength = 4096;
    private const int MaxRemembered = 100_000;
    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(5);
    private static readonly string[] ForbiddenHeaders = ["jwk", "jku", "x5u", "x5c", "crit"];

    private readonly SigningKeyRing _ring;
    private readonly IdentitySettings _settings;
    private readonly TimeProvider _time;
    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };
    private readonly TokenValidationParameters _parameters;
    private readonly ConcurrentDictionary<string, Session> _verified = new(StringComparer.Ordinal);

    public SessionTokens(SigningKeyRing ring, IdentitySettings settings, TimeProvider time)
    {
        _ring = ring;
        _settings = settings;
        _time = time;
        _parameters = new TokenValidationParameters
        {
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            ValidIssuer = Issuer,
            ValidAudience = Audience,
            ValidTypes = ["JWT"],
            ValidateIssuer = true,
            ValidateAudience = true,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            RequireAudience = true,
            ValidateIssuerSigningKey = true,
            TryAllIssuerSigningKeys = false,
            ClockSkew = ClockSkew,
            LifetimeValidator = (notBefore, expires, _, _) => IsWithinLifetime(notBefore, expires, time.GetUtcNow()),
            IssuerSigningKeyResolver = (_, _, kid, _) =>
                kid is not null && _ring.Current is { } snapshot && snapshot.Published.TryGetValue(kid, out var key) ? [key] : [],
        };
    }

    /// <param name="notAfter">
    /// When the proof behind the session stops being valid (the SIWE message's Expiration Time): the
    /// session ends then at the latest, whatever the configured lifetime. Null when the proof does not expire.
    /// </param>
    public IssuedSession Issue(KeySnapshot snapshot, EthereumAddress address, long chainId, DateTimeOffset? notAfter = null)
    {
        var active = snapshot.Active ?? throw new InvalidOperationException("No active signing key.");
        var now = _time.GetUtcNow();
        var issuedAt = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        var expiresAt = issuedAt + _settings.SessionLifetime;
        if (notAfter is { } limit && DateTimeOffset.FromUnixTimeSeconds(limit.ToUnixTimeSeconds()) is var bound && bound < expiresAt)
        {
            // Rounded down: a JWT's exp is whole seconds and must not pass the message's expiry.
            expiresAt = bound > issuedAt ? bound : throw new ArgumentOutOfRangeException(nameof(notAfter), "The session would end before it starts; check CanIssueUntil first.");
        }

        var jti = Guid.NewGuid();
        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = issuedAt.UtcDateTime,
            NotBefore = issuedAt.UtcDateTime,
            Expires = expiresAt.UtcDateTime,
            SigningCredentials = active.Credentials,
            Claims = new Dictionary<string, object>
            {
                [JwtRegisteredClaimNames.Sub] = address.ToChecksumString(),
                [JwtRegisteredClaimNames.Jti] = jti.ToString(),
                ["chain_id"] = chainId,
            },
        });
        return new IssuedSession(token, new Session(address, chainId, jti, issuedAt, expiresAt, active.Kid));
    }

    /// <summary>Whether a session bounded by <paramref name="notAfter"/> would last at least a whole second.</summary>
    public bool CanIssueUntil(DateTimeOffset? notAfter) =>
        notAfter is not { } limit || limit.ToUnixTimeSeconds() > _time.GetUtcNow().ToUnixTimeSeconds();

    public async ValueTask<SessionValidation> ValidateAsync(string? token, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength)
        {
            return SessionValidation.Fail("The session token is missing or too long.");
        }

        var now = _time.GetUtcNow();
        var snapshot = _ring.Current ?? await _ring.GetAsync(cancellationToken);
        if (_verified.TryGetValue(token, out var remembered))
        {
            if (now >= remembered.ExpiresAt + ClockSkew)
            {
                _verified.TryRemove(token, out _);
                return SessionValidation.Fail("The session token has expired.");
            }

            if (snapshot.Published.ContainsKey(remembered.Kid))
            {
                return SessionValidation.Success(remembered);
            }

            _verified.TryRemove(token, out _);
        }

        JsonWebToken parsed;
        try
        {
            parsed = new JsonWebToken(token);
        }
        catch (ArgumentException)
        {
            return SessionValidation.Fail("The session token is not a JWS compact token.");
        }

        if (parsed.IsEncrypted || parsed.Alg != SecurityAlgorithms.EcdsaSha256)
        {
            return SessionValidation.Fail("The session token must be signed with ES256.");
        }

        foreach (var header in ForbiddenHeaders)
        {
            if (parsed.TryGetHeaderValue<object>(header, out _))
            {
                return SessionValidation.Fail($"The session token's header carries \"{header}\", which is never trusted.");
            }
        }

        var kid = parsed.Kid;
        if (string.IsNullOrEmpty(kid) || !KidPattern().IsMatch(kid))
        {
            return SessionValidation.Fail("The session token names no valid key id.");
        }

        if (!snapshot.Published.ContainsKey(kid))
        {
            snapshot = await _ring.RefreshForUnknownKidAsync(cancellationToken) ?? snapshot;
            if (!snapshot.Published.ContainsKey(kid))
            {
                return SessionValidation.Fail("The session token was signed by an unknown key.");
            }
        }

        var result = await _handler.ValidateTokenAsync(parsed, _parameters);
        if (!result.IsValid)
        {
            return SessionValidation.Fail(result.Exception switch
            {
                SecurityTokenExpiredException => "The session token has expired.",
                SecurityTokenInvalidAudienceException => "The token is not a session token (audience).",
                SecurityTokenInvalidIssuerException => "The session token has the wrong issuer.",
                SecurityTokenNotYetValidException => "The session token is not valid yet.",
                _ => "The session token's signature or claims are invalid.",
            });
        }

        if (!parsed.TryGetPayloadValue<string>(JwtRegisteredClaimNames.Sub, out var sub)
            || !EthereumAddress.TryParse(sub, AddressChecksumPolicy.Required, out var address, out _)
            || !parsed.TryGetPayloadValue<long>("chain_id", out var chainId)
            || !Guid.TryParse(parsed.Id, out var jti))
        {
            return SessionValidation.Fail("The session token lacks its subject, chain or id.");
        }

        var session = new Session(address, chainId, jti, new DateTimeOffset(parsed.IssuedAt, TimeSpan.Zero),
            new DateTimeOffset(parsed.ValidTo, TimeSpan.Zero), kid);
        if (_verified.Count >= MaxRemembered)
        {
            _verified.Clear();
        }

        _verified[token] = session;
        return SessionValidation.Success(session);
    }

    private static bool IsWithinLifetime(DateTime? notBefore, DateTime? expires, DateTimeOffset now) =>
        expires is { } exp && now < new DateTimeOffset(exp, TimeSpan.Zero) + ClockSkew
        && (notBefore is not { } nbf || now >= new DateTimeOffset(nbf, TimeSpan.Zero) - ClockSkew);

    [GeneratedRegex("^[A-Za-z0-9_-]{43}$", RegexOptions.CultureInvariant)]
    private static partial Regex KidPattern();
}

/// <summary>A validated session: who signed in, on which chain, and the token's id and lifetime.</summary>
public sealed record Session(EthereumAddress Address, long ChainId, Guid Jti, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt, string Kid);

public sealed record IssuedSession(string Token, Session Session);

public readonly record struct SessionValidation(Session? Session, string? Failure)
{
    public bool IsValid => Session is not null;

    public static SessionValidation Success(Session session) => new(session, null);

    public static SessionValidation Fail(string reason) => new(null, reason);
}
