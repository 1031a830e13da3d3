using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Endpoints;
using Freeside.Features.Common.Errors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Identity.Sessions;

/// <summary>
/// Freeside's session scheme: an ES256 session token from <c>Authorization: Bearer</c> or, failing
/// that, the HttpOnly session cookie. Endpoints that require it read the caller with
/// <see cref="Caller"/> and hand it to their request; handlers never see HTTP.
/// </summary>
public static class SessionAuthentication
{
    public const string CookieName = "freeside_session";

    public static TBuilder RequireSession<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var failure = await AuthenticateAsync(context.HttpContext);
            return failure is null ? await next(context) : failure.ToProblem();
        }).WithMetadata(new SessionRequiredMarker());

    /// <summary>
    /// The platform admin bearer token, or else a wallet session (which the handler must then check
    /// against the resource, e.g. community admin of that community). <see cref="CallerOrPlatform"/>
    /// tells which.
    /// </summary>
    public static TBuilder RequirePlatformAdminOrSession<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            if (PlatformAdmin.IsPlatformAdmin(http.Request, http.RequestServices.GetRequiredService<FreesideSettings>().AdminToken))
            {
                return await next(context);
            }

            var failure = await AuthenticateAsync(http);
            return failure is null ? await next(context) : failure.ToProblem();
        }).WithMetadata(new SessionRequiredMarker());

    private static async Task<Unauthenticated?> AuthenticateAsync(HttpContext http)
    {
        var token = TokenFrom(http.Request);
        if (token is null)
        {
            return new Unauthenticated("Sign in with Ethereum first: send the session token as a Bearer token or cookie.");
        }

        var services = http.RequestServices;
        var validation = await services.GetRequiredService<SessionTokens>().ValidateAsync(token, http.RequestAborted);
        if (validation.Session is not { } session)
        {
            return new Unauthenticated(validation.Failure!);
        }

        if (await services.GetRequiredService<RevocationList>().IsRevokedAsync(session.Jti, http.RequestAborted))
        {
            return new Unauthenticated("The session has been logged out.");
        }

        http.Items[typeof(Session)] = session;
        return null;
    }

    /// <summary>The wallet session, or null when the platform admin token authenticated the request.</summary>
    public static Session? CallerOrPlatform(this HttpContext context) => context.Items[typeof(Session)] as Session;

    public static Session Caller(this HttpContext context) =>
        context.Items[typeof(Session)] as Session
        ?? throw new InvalidOperationException("The endpoint reads the caller but does not RequireSession().");

    private static string? TokenFrom(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.Length > 0)
        {
            return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
        }

        return request.Cookies.TryGetValue(CookieName, out var cookie) && cookie.Length > 0 ? cookie : null;
    }

    public static void SetCookie(HttpResponse response, string token, DateTimeOffset expiresAt, bool secure) =>
        response.Cookies.Append(CookieName, token, new CookieOptions
        {
            HttpOnly = true,
            Secure = secure,
            SameSite = SameSiteMode.Strict,
            Path = "/",
            Expires = expiresAt,
            IsEssential = true,
        });

    public static void ClearCookie(HttpResponse response, bool secure) =>
        response.Cookies.Delete(CookieName, new CookieOptions { HttpOnly = true, Secure = secure, SameSite = SameSiteMode.Strict, Path = "/" });

    /// <summary>Marks an endpoint as requiring a wallet session, for OpenAPI and architecture tests.</summary>
    public sealed class SessionRequiredMarker;
}
