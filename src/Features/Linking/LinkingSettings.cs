using Microsoft.Extensions.Configuration;

namespace Freeside.Features.Linking;

/// <summary>
/// PUBLIC_BASE_URL: the address users reach Freeside at, for links sent through chat platforms
/// (defaults to the first public listener, which is only right on a developer's machine).
/// </summary>
public sealed record LinkingSettings(Uri? PublicBaseUrl)
{
    public static LinkingSettings Load(IConfiguration configuration, List<string> errors)
    {
        if (configuration["PUBLIC_BASE_URL"] is not { Length: > 0 } raw)
        {
            return new LinkingSettings((Uri?)null);
        }

        if (!Uri.TryCreate(raw, UriKind.Absolute, out var url) || url.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(url.UserInfo))
        {
            errors.Add("PUBLIC_BASE_URL: must be an absolute http(s) URL without credentials, e.g. https://freeside.example");
            return new LinkingSettings((Uri?)null);
        }

        return new LinkingSettings(url);
    }
}

/// <summary>Builds the URLs of link pages.</summary>
public sealed record LinkUrls(Uri BaseUrl)
{
    public Uri PageFor(string token) => new(BaseUrl, "/link/" + token);
}
