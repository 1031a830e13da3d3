using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Freeside.Features.Identity;

/// <summary>Sign-in, sessions, signing keys and the chain reader (the Identity capability).</summary>
public sealed record IdentitySettings
{
    public static readonly IReadOnlyList<long> DefaultChainIds = [1, 80094, 11155111, 31337];

    /// <summary>Fixed development-only KEK, used when Development runs without FREESIDE_KEY_ENCRYPTION_KEY.</summary>
    private static readonly byte[] DevelopmentKek = System.Security.Cryptography.SHA256.HashData("freeside-development-only-key-encryption-key"u8);

    /// <summary>Authorities (host[:port]) a SIWE message may name, besides localhost in Development.</summary>
    public IReadOnlyList<string> SiweDomains { get; init; } = [];

    public IReadOnlyList<long> SiweChainIds { get; init; } = DefaultChainIds;

    /// <summary>Development also accepts localhost and 127.0.0.1 on any port, and sets the cookie without Secure.</summary>
    public bool IsDevelopment { get; init; }

    /// <summary>Take the SIWE domain from X-Forwarded-Host (only behind a proxy that sets it).</summary>
    public bool TrustForwardedHost { get; init; }

    /// <summary>AES-256 key that encrypts signing keys at rest.</summary>
    public required byte[] KeyEncryptionKey { get; init; }

    public bool UsesDevelopmentKek { get; init; }

    public TimeSpan SessionLifetime { get; init; } = TimeSpan.FromHours(1);

    public TimeSpan RetiredKeyGrace { get; init; } = TimeSpan.FromHours(24);

    public TimeSpan SigningKeyMaxAge { get; init; } = TimeSpan.FromDays(90);

    public IReadOnlyDictionary<long, Uri> ChainRpcUrls { get; init; } = new Dictionary<long, Uri>();

    public TimeSpan ChainRpcTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan OwnershipCacheTtl { get; init; } = TimeSpan.FromSeconds(60);

    public static IdentitySettings? Load(IConfiguration configuration, bool isDevelopment, List<string> errors)
    {
        var before = errors.Count;
        var domains = new List<string>();
        foreach (var domain in Split(configuration["SIWE_DOMAINS"]))
        {
            if (domain.Contains('/', StringComparison.Ordinal) || domain.Contains('@', StringComparison.Ordinal)
                || !Uri.TryCreate("https://" + domain, UriKind.Absolute, out var parsed) || parsed.PathAndQuery != "/")
            {
                errors.Add($"SIWE_DOMAINS: '{domain}' is not a host[:port]");
                continue;
            }

            domains.Add(domain.ToLowerInvariant());
        }

        if (!isDevelopment && domains.Count == 0 && errors.Count == before)
        {
            // Without it nobody could sign in; say so at start-up rather than with every refused message.
            errors.Add("SIWE_DOMAINS: is required outside Development (the host[:port] users sign in to, e.g. app.example.com)");
        }

        var chainIds = DefaultChainIds;
        if (configuration["SIWE_CHAIN_IDS"] is { Length: > 0 } rawChains)
        {
            var parsedChains = new List<long>();
            foreach (var item in Split(rawChains))
            {
                if (!long.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id <= 0)
                {
                    errors.Add($"SIWE_CHAIN_IDS: '{item}' is not a positive chain id");
                    continue;
                }

                parsedChains.Add(id);
            }

            chainIds = parsedChains;
        }

        byte[]? kek = null;
        var usesDevelopmentKek = false;
        if (configuration["FREESIDE_KEY_ENCRYPTION_KEY"] is { Length: > 0 } rawKek)
        {
            kek = DecodeKey(rawKek.Trim());
            if (kek is null)
            {
                errors.Add("FREESIDE_KEY_ENCRYPTION_KEY: must be 32 bytes, as base64 (44 characters) or hex (64 characters)");
            }
        }
        else if (isDevelopment)
        {
            kek = DevelopmentKek;
            usesDevelopmentKek = true;
        }
        else
        {
            errors.Add("FREESIDE_KEY_ENCRYPTION_KEY: is required outside Development (32 random bytes, base64); it encrypts the signing keys");
        }

        var rpcUrls = new Dictionary<long, Uri>();
        foreach (var item in Split(configuration["CHAIN_RPC_URLS"], ';'))
        {
            var parts = item.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var chain) || chain <= 0
                || !Uri.TryCreate(parts[1], UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                errors.Add($"CHAIN_RPC_URLS: '{item}' is not CHAIN_ID=http(s)://URL (entries separated by ';')");
                continue;
            }

            rpcUrls[chain] = url;
        }

        var session = Seconds(configuration, "SESSION_TTL_SECONDS", 3600, 60, 86_400, errors);
        var grace = Seconds(configuration, "JWKS_RETIRE_GRACE_SECONDS", 86_400, 0, 30 * 86_400, errors);
        var maxAge = Seconds(configuration, "SIGNING_KEY_MAX_AGE_SECONDS", 90 * 86_400, 3600, 366 * 86_400, errors);
        var rpcTimeout = Seconds(configuration, "CHAIN_RPC_TIMEOUT_SECONDS", 5, 1, 60, errors);
        var cacheTtl = Seconds(configuration, "NFT_OWNERSHIP_CACHE_SECONDS", 60, 0, 3600, errors);
        var trustForwarded = false;
        if (configuration["FREESIDE_TRUST_FORWARDED_HOST"] is { Length: > 0 } rawTrust && !bool.TryParse(rawTrust, out trustForwarded))
        {
            errors.Add("FREESIDE_TRUST_FORWARDED_HOST: must be true or false");
        }

        if (errors.Count > before)
        {
            return null;
        }

        return new IdentitySettings
        {
            SiweDomains = domains,
            SiweChainIds = chainIds,
            IsDevelopment = isDevelopment,
            TrustForwardedHost = trustForwarded,
            KeyEncryptionKey = kek!,
            UsesDevelopmentKek = usesDevelopmentKek,
            SessionLifetime = session,
            RetiredKeyGrace = grace,
            SigningKeyMaxAge = maxAge,
            ChainRpcUrls = rpcUrls,
            ChainRpcTimeout = rpcTimeout,
            OwnershipCacheTtl = cacheTtl,
        };
    }

    private static byte[]? DecodeKey(string raw)
    {
        if (raw.Length == 64 && raw.All(Uri.IsHexDigit))
        {
            return Convert.FromHexString(raw);
        }

        var buffer = new byte[48];
        return Convert.TryFromBase64String(raw, buffer, out var written) && written == 32 ? buffer[..32] : null;
    }

    private static TimeSpan Seconds(IConfiguration configuration, string name, int fallback, int min, int max, List<string> errors)
    {
        if (configuration[name] is not { Length: > 0 } raw)
        {
            return TimeSpan.FromSeconds(fallback);
        }

        if (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            errors.Add($"{name}: must be a whole number of seconds from {min} to {max}");
            return TimeSpan.Zero;
        }

        return TimeSpan.FromSeconds(value);
    }

    private static IEnumerable<string> Split(string? raw, params char[] separators) =>
        (raw ?? "").Split(separators.Length == 0 ? [',', ';', ' '] : separators, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
