using Carter;
using Freeside.Features.Common.Endpoints;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Identity;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Freeside.Features.Linking;

public sealed class LinkingEndpoints : ICarterModule
{
    private static readonly EmbeddedAsset Page = new("Freeside.Features.Linking.link.html", "text/html; charset=utf-8");

    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapGet("/link/{token}", PageAsync)
            .RequireRateLimitPerClient(RateLimitPolicies.SiweNonce)
            .ExcludeFromDescription();

        var links = app.MapGroup("/api/v1/links").WithTags("Linking");
        links.MapGet("/{token}", GetAsync)
            .RequireRateLimitPerClient(RateLimitPolicies.SiweNonce)
            .WithName("GetLink")
            .WithSummary("A /verify link sent by the Discord or Telegram bot: who it links, whether it is still open, what to sign.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        links.MapPost("/{token}", CompleteAsync)
            .RequireRateLimitPerClient(RateLimitPolicies.SiweSignInPerIp)
            .WithName("CompleteLink")
            .WithSummary("Link the chat user to the wallet that signed an EIP-4361 message whose Request ID is the token (single use, 3 attempts, 15 minutes).")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
    }

    private static IResult PageAsync(string token, HttpContext http)
    {
        // The token is in the path, so the page must never be cached or leak through a Referer.
        http.Response.Headers["Referrer-Policy"] = "no-referrer";
        http.Response.Headers.ContentSecurityPolicy =
            "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
        return Page.Serve(http, "no-store");
    }

    private static async Task<Results<Ok<GetLink.View>, ProblemHttpResult>> GetAsync(
        string token, HttpContext http, IMediator mediator, CancellationToken cancellationToken)
    {
        http.Response.Headers.CacheControl = "no-store";
        return (await mediator.Send(new GetLink.Query(token), cancellationToken)).ToOk();
    }

    private static async Task<Results<Ok<CompleteLink.View>, ProblemHttpResult>> CompleteAsync(
        string token, CompleteLink.Body body, HttpContext http, IdentitySettings settings, IMediator mediator, CancellationToken cancellationToken)
    {
        http.Response.Headers.CacheControl = "no-store";
        var command = new CompleteLink.Command(token, body.Message ?? "", body.Signature ?? "", IdentityEndpoints.RequestHost(http.Request, settings));
        // A body with nothing to check is refused by validation without spending one of the link's attempts.
        if (command.Message.Length > 0 && command.Signature.Length > 0)
        {
            var attempt = await mediator.Send(new SpendLinkAttempt.Command(token), cancellationToken);
            if (attempt.Error is { } refused)
            {
                return Result<CompleteLink.View>.Failure(refused).ToOk();
            }
        }

        return (await mediator.Send(command, cancellationToken)).ToOk();
    }
}
