using Carter;
using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Endpoints;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Identity.Keys;
using Freeside.Features.Identity.Ownership;
using Freeside.Features.Identity.Roles;
using Freeside.Features.Identity.Sessions;
using Freeside.Features.Identity.Siwe;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace Freeside.Features.Identity;

public sealed class IdentityEndpoints : ICarterModule
{
    private static readonly EmbeddedAsset SiweScript = new("Freeside.Features.Identity.Siwe.siwe.js", "text/javascript; charset=utf-8");

    public void AddRoutes(IEndpointRouteBuilder app)
    {
        // Keccak-256, EIP-55 and EIP-4361 for Freeside's own pages (sign-in, /verify links).
        app.MapGet("/assets/identity/siwe.js", (HttpContext http) => SiweScript.Serve(http, "public, max-age=3600"))
            .ExcludeFromDescription();

        var auth = app.MapGroup("/api/v1/auth").WithTags("Identity");
        auth.MapGet("/nonce", IssueNonceAsync)
            .RequireRateLimitPerClient(RateLimitPolicies.SiweNonce)
            .WithName("IssueSiweNonce")
            .WithSummary("A single-use SIWE nonce, valid for 5 minutes.");
        auth.MapPost("/siwe", SignInAsync)
            .RequireRateLimitPerClient(RateLimitPolicies.SiweSignInPerIp)
            .WithName("SignInWithEthereum")
            .WithSummary("Verify an EIP-4361 message and its EIP-191 signature; answers a session token and sets the session cookie.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        auth.MapGet("/session", GetSessionAsync)
            .RequireSession()
            .WithName("GetSession")
            .WithSummary("The signed-in wallet.")
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        auth.MapPost("/logout", LogoutAsync)
            .RequireSession()
            .WithName("Logout")
            .WithSummary("Revoke the session token until it expires and clear the cookie.")
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        app.MapGet("/.well-known/jwks.json", GetJwksAsync)
            .WithTags("Identity")
            .WithName("GetJwks")
            .WithSummary("Freeside's public ES256 signing keys (active, and retired ones still in their grace period).")
            .Produces<JwksDocument>(StatusCodes.Status200OK)
            .Produces(StatusCodes.Status304NotModified);

        var admin = app.MapGroup("/api/v1/admin").WithTags("Identity");
        admin.MapPost("/signing-keys/rotate", RotateAsync)
            .RequirePlatformAdmin()
            .WithName("RotateSigningKey")
            .WithSummary("Retire the active signing key and activate a new one (platform admin).")
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        admin.MapPost("/signing-keys/{kid}/revoke", RevokeSigningKeyAsync)
            .RequirePlatformAdmin()
            .WithName("RevokeSigningKey")
            .WithSummary("Take a compromised signing key out of service now: removed from the JWKS, its tokens refused (platform admin, audited).")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);
        admin.MapPost("/communities/{slug}/admins", AddCommunityAdminAsync)
            .RequirePlatformAdmin()
            .WithName("AddCommunityAdmin")
            .WithSummary("Make a wallet an admin of a community (platform admin).")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        app.MapGet("/api/v1/communities/{slug}/admins", ListCommunityAdminsAsync)
            .WithTags("Identity")
            .RequireSession()
            .WithName("ListCommunityAdmins")
            .WithSummary("One page of the community's admins, in the order they were added (community admins of this community only).")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

        app.MapGet("/api/v1/me/nfts", ListMyNftsAsync)
            .WithTags("Identity")
            .RequireSession()
            .WithName("ListMyNfts")
            .WithSummary("The caller's token ids in a community's collection, read from the chain (cached 60 s).")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task<Results<Ok<IssueNonce.View>, ProblemHttpResult>> IssueNonceAsync(
        HttpContext http, IMediator mediator, CancellationToken cancellationToken)
    {
        http.Response.Headers.CacheControl = "no-store";
        return (await mediator.Send(new IssueNonce.Command(), cancellationToken)).ToOk();
    }

    private static async Task<Results<Ok<SignIn.View>, ProblemHttpResult>> SignInAsync(
        SignIn.Body body, HttpContext http, IdentitySettings settings, IMediator mediator, CancellationToken cancellationToken)
    {
        var host = RequestHost(http.Request, settings);
        var result = await mediator.Send(new SignIn.Command(body.Message ?? "", body.Signature ?? "", host), cancellationToken);
        if (result.IsSuccess)
        {
            http.Response.Headers.CacheControl = "no-store";
            SessionAuthentication.SetCookie(http.Response, result.Value.Token, result.Value.ExpiresAt, secure: !settings.IsDevelopment);
        }

        return result.ToOk();
    }

    private static async Task<Results<Ok<GetSession.View>, ProblemHttpResult>> GetSessionAsync(
        HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetSession.Query(http.Caller()), cancellationToken)).ToOk();

    private static async Task<Results<NoContent, ProblemHttpResult>> LogoutAsync(
        HttpContext http, IdentitySettings settings, IMediator mediator, CancellationToken cancellationToken)
    {
        var caller = http.Caller();
        var result = await mediator.Send(new Logout.Command(caller.Jti, caller.ExpiresAt), cancellationToken);
        if (result.IsSuccess)
        {
            SessionAuthentication.ClearCookie(http.Response, secure: !settings.IsDevelopment);
        }

        return result.ToHttp(_ => TypedResults.NoContent());
    }

    private static async Task<IResult> GetJwksAsync(HttpContext http, IMediator mediator, CancellationToken cancellationToken)
    {
        var result = await mediator.Send(new GetJwks.Query(http.Request.Headers.IfNoneMatch.ToString()), cancellationToken);
        if (!result.IsSuccess)
        {
            return result.Error!.ToProblem();
        }

        http.Response.Headers.CacheControl = "public, max-age=60";
        http.Response.Headers.ETag = result.Value.ETag;
        return result.Value.Document is { } document
            ? TypedResults.Bytes(document, "application/json")
            : TypedResults.StatusCode(StatusCodes.Status304NotModified);
    }

    private static async Task<Results<Ok<RotateSigningKey.View>, ProblemHttpResult>> RotateAsync(
        IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new RotateSigningKey.Command(RotateSigningKey.Trigger.Manual), cancellationToken)).ToOk();

    private static async Task<Results<Ok<RevokeSigningKey.View>, ProblemHttpResult>> RevokeSigningKeyAsync(
        string kid, RevokeSigningKey.Body body, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new RevokeSigningKey.Command(kid, body.Reason ?? ""), cancellationToken)).ToOk();

    private static async Task<Results<Created<CommunityAdminView>, ProblemHttpResult>> AddCommunityAdminAsync(
        string slug, AddCommunityAdmin.Body body, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new AddCommunityAdmin.Command(slug, body.Address ?? ""), cancellationToken))
            .ToHttp(view => TypedResults.Created($"/api/v1/communities/{view.Community}/admins", view));

    private static async Task<Results<Ok<Page<CommunityAdminView>>, ProblemHttpResult>> ListCommunityAdminsAsync(
        string slug, int? limit, string? cursor, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new ListCommunityAdmins.Query(slug, http.Caller().Address, limit, cursor), cancellationToken)).ToOk();

    private static async Task<Results<Ok<ListMyNfts.View>, ProblemHttpResult>> ListMyNftsAsync(
        [FromQuery] string? community,
        [FromQuery(Name = "token_id")] string[]? tokenIds,
        HttpContext http,
        IMediator mediator,
        CancellationToken cancellationToken) =>
        (await mediator.Send(new ListMyNfts.Query(community ?? "", http.Caller().Address, tokenIds ?? []), cancellationToken)).ToOk();

    /// <summary>The authority the client addressed; X-Forwarded-Host only when configured to trust the proxy.</summary>
    internal static string RequestHost(HttpRequest request, IdentitySettings settings)
    {
        if (settings.TrustForwardedHost && request.Headers["X-Forwarded-Host"].ToString() is { Length: > 0 } forwarded)
        {
            return forwarded.Split(',')[0].Trim();
        }

        return request.Host.Value ?? "";
    }

    /// <summary>The JWKS document's shape, for the OpenAPI description.</summary>
    public sealed record JwksDocument(IReadOnlyList<PublicJwk> Keys);
}
