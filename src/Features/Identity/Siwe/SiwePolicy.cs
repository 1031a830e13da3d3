using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Ethereum;

namespace Freeside.Features.Identity.Siwe;

/// <summary>What Freeside expects of a SIWE message beyond the grammar and the signature.</summary>
public sealed class SiwePolicy(IdentitySettings settings, TimeProvider time)
{
    private static readonly string[] DevelopmentHosts = ["localhost", "127.0.0.1"];

    public SiweVerificationContext ContextFor(string requestHost) => new()
    {
        DomainPredicate = domain => string.Equals(domain, requestHost, StringComparison.OrdinalIgnoreCase) && IsAllowed(domain),
        AllowedChainIds = settings.SiweChainIds,
        TimeProvider = time,
        AllowedClockSkew = SiweVerificationContext.DefaultClockSkew,
    };

    /// <summary>SIWE_DOMAINS exactly; in Development also localhost and 127.0.0.1 on any port.</summary>
    public bool IsAllowed(string domain)
    {
        foreach (var allowed in settings.SiweDomains)
        {
            if (string.Equals(domain, allowed, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return settings.IsDevelopment && HostOf(domain) is { } host && DevelopmentHosts.Contains(host, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The message's URI must be an absolute URI on the message's own domain.</summary>
    public static bool UriBelongsToDomain(string uri, string domain) =>
        Uri.TryCreate(uri, UriKind.Absolute, out var parsed)
        && parsed.Scheme is "https" or "http"
        && Uri.TryCreate(parsed.Scheme + "://" + domain, UriKind.Absolute, out var origin)
        && string.Equals(parsed.Host, origin.Host, StringComparison.OrdinalIgnoreCase)
        && parsed.Port == origin.Port
        && string.IsNullOrEmpty(parsed.UserInfo);

    private static string? HostOf(string domain) =>
        Uri.TryCreate("http://" + domain, UriKind.Absolute, out var parsed) && string.IsNullOrEmpty(parsed.UserInfo) ? parsed.Host : null;
}
