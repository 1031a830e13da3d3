using Freeside.Features.Identity.Sessions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.WebChat;

/// <summary>The session of a page or socket that may be signed out: the same checks as RequireSession, without the 401.</summary>
internal static class SessionLookup
{
    public static Task<Session?> FromRequestAsync(HttpContext http) => FromRequestAsync(http, http.RequestServices);

    public static Task<Session?> FromRequestAsync(HttpContext http, IServiceProvider services)
    {
        var header = http.Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim()
            : http.Request.Cookies.TryGetValue(SessionAuthentication.CookieName, out var cookie) ? cookie : null;
        return token is { Length: > 0 } ? ValidateAsync(services, token, http.RequestAborted) : Task.FromResult<Session?>(null);
    }

    public static async Task<Session?> ValidateAsync(IServiceProvider services, string token, CancellationToken cancellationToken)
    {
        if (token.Length > SessionTokens.MaxTokenLength)
        {
            return null;
        }

        var validation = await services.GetRequiredService<SessionTokens>().ValidateAsync(token, cancellationToken);
        if (validation.Session is not { } session || await services.GetRequiredService<RevocationList>().IsRevokedAsync(session.Jti, cancellationToken))
        {
            return null;
        }

        return session;
    }
}
