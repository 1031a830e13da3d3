using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace Freeside.Features.Common.RateLimiting;

/// <summary>
/// The rate-limit policies (each overridable by its own FREESIDE_RATE_LIMIT_* setting) and the
/// proxies whose X-Forwarded-For is believed (FREESIDE_TRUSTED_PROXIES).
/// </summary>
public sealed partial record RateLimitSettings
{
    public static readonly RateLimitSettings Default = new();

    public IReadOnlyDictionary<string, RateLimitPolicy> Policies { get; init; } =
        RateLimitPolicies.Defaults.ToDictionary(p => p.Name, StringComparer.Ordinal);

    /// <summary>Addresses and networks of the reverse proxies in front of Freeside; empty: nobody's X-Forwarded-For counts.</summary>
    public IReadOnlyList<IPNetwork> TrustedProxies { get; init; } = [];

    public RateLimitPolicy Policy(string name) =>
        Policies.TryGetValue(name, out var policy) ? policy : throw new ArgumentException($"No rate-limit policy '{name}'.", nameof(name));

    public static RateLimitSettings Load(IConfiguration configuration, List<string> errors)
    {
        var policies = new Dictionary<string, RateLimitPolicy>(StringComparer.Ordinal);
        foreach (var policy in RateLimitPolicies.Defaults)
        {
            policies[policy.Name] = configuration[policy.SettingName] is { Length: > 0 } raw
                ? Parse(policy, raw.Trim(), errors) ?? policy
                : policy;
        }

        var proxies = new List<IPNetwork>();
        foreach (var item in (configuration["FREESIDE_TRUSTED_PROXIES"] ?? "")
                     .Split([',', ';', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (IPNetwork.TryParse(item, out var network))
            {
                proxies.Add(network);
            }
            else if (IPAddress.TryParse(item, out var address))
            {
                proxies.Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            }
            else
            {
                errors.Add($"FREESIDE_TRUSTED_PROXIES: '{item}' is not an IP address or CIDR network (e.g. 10.0.0.0/8)");
            }
        }

        return new RateLimitSettings { Policies = policies, TrustedProxies = proxies };
    }

    private static RateLimitPolicy? Parse(RateLimitPolicy fallback, string raw, List<string> errors)
    {
        var bucket = fallback.Algorithm == RateLimitAlgorithm.TokenBucket;
        var expected = bucket ? "LIMIT/WINDOW,burst=N, e.g. 100/60s,burst=20" : "LIMIT/WINDOW, e.g. 20/300s";
        var match = Format().Match(raw);
        if (!match.Success || match.Groups["burst"].Success != bucket)
        {
            errors.Add($"{fallback.SettingName}: '{raw}' is not {expected} (window in s, m or h)");
            return null;
        }

        var limit = int.Parse(match.Groups["limit"].Value, CultureInfo.InvariantCulture);
        var amount = int.Parse(match.Groups["window"].Value, CultureInfo.InvariantCulture);
        var window = match.Groups["unit"].Value switch
        {
            "s" => TimeSpan.FromSeconds(amount),
            "m" => TimeSpan.FromMinutes(amount),
            _ => TimeSpan.FromHours(amount),
        };
        var burst = bucket ? int.Parse(match.Groups["burst"].Value, CultureInfo.InvariantCulture) : 0;
        if (limit < 1 || limit > 1_000_000 || window < TimeSpan.FromSeconds(1) || window > TimeSpan.FromDays(1)
            || (bucket && (burst < 1 || burst > 1_000_000)))
        {
            errors.Add($"{fallback.SettingName}: limit and burst must be 1 to 1000000, the window 1 s to 24 h");
            return null;
        }

        return fallback with { Limit = limit, Window = window, Burst = burst };
    }

    [GeneratedRegex(@"^(?<limit>\d{1,7})/(?<window>\d{1,6})(?<unit>[smh])(,\s*burst=(?<burst>\d{1,7}))?$", RegexOptions.CultureInvariant)]
    private static partial Regex Format();
}
