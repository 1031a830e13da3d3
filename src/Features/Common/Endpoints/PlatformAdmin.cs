using System.Security.Cryptography;
using System.Text;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Errors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Common.Endpoints;

/// <summary>The platform operator: a bearer token equal to FREESIDE_ADMIN_TOKEN.</summary>
public static class PlatformAdmin
{
    public static TBuilder RequirePlatformAdmin<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var settings = context.HttpContext.RequestServices.GetRequiredService<FreesideSettings>();
            return IsPlatformAdmin(context.HttpContext.Request, settings.AdminToken)
                ? await next(context)
                : new Unauthenticated("A platform admin bearer token is required.").ToProblem();
        }).WithMetadata(new PlatformAdminMarker());

    public static bool IsPlatformAdmin(HttpRequest request, string adminToken)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return TokenEquals(header["Bearer ".Length..].Trim(), adminToken);
    }

    /// <summary>Constant-time: both sides are hashed first so neither length nor content leaks through timing.</summary>
    public static bool TokenEquals(string presented, string expected) =>
        CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(presented)),
            SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    /// <summary>Marks an endpoint as platform-admin only, for OpenAPI and architecture tests.</summary>
    public sealed class PlatformAdminMarker;
}
