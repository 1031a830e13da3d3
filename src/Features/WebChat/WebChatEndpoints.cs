using System.Net;
using System.Net.WebSockets;
using Carter;
using Freeside.Features.Common.Errors;
using Freeside.Features.Identity.Sessions;
using Freeside.Features.Inference;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using NotFound = Freeside.Features.Common.Errors.NotFound;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.WebChat;

public sealed class WebChatEndpoints : ICarterModule
{
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapGet("/chat/{slug}/{tokenId}", PageAsync).ExcludeFromDescription();
        app.MapGet("/chat/{slug}/{tokenId}/ws", SocketAsync).ExcludeFromDescription();
        app.MapGet("/webchat/{hash}/{file}", AssetAsync).ExcludeFromDescription();
        app.MapGet("/widget/v1/widget.js", (HttpContext http, WebChatAssets assets) => Serve(http, assets.Widget, "public, max-age=31536000, immutable"))
            .ExcludeFromDescription();
        app.MapGet("/widget.js", (HttpContext http, WebChatAssets assets) => Serve(http, assets.Widget, "public, max-age=300"))
            .ExcludeFromDescription();

        var api = app.MapGroup("/api/v1").WithTags("Web chat");
        api.MapGet("/webchat/{slug}/{tokenId}/state", StateAsync)
            .WithName("GetWebChatState")
            .WithSummary("What the chat page shows its viewer: signed_out, holder (with the balance) or read_only with the reason. The session is optional.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        api.MapGet("/webchat/{slug}/{tokenId}/history", HistoryAsync)
            .RequireSession()
            .WithName("ListWebChatHistory")
            .WithSummary("The holder's messages with the agent from every surface (source web, discord, telegram, api), newest first; page with before=next_before.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPut("/communities/{slug}/webchat-settings", SettingsAsync)
            .RequirePlatformAdminOrSession()
            .WithName("SetWebChatSettings")
            .WithSummary("Set the origins that may embed the community's chat (frame-ancestors) and open its socket (a community admin's session, or the platform admin).")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    public sealed record SettingsRequest(IReadOnlyList<string>? AllowedOrigins);

    private static async Task<Results<Ok<SetEmbedOrigins.View>, ProblemHttpResult>> SettingsAsync(
        string slug, SettingsRequest body, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new SetEmbedOrigins.Command(slug, body.AllowedOrigins, http.CallerOrPlatform()?.Address), cancellationToken)).ToOk();

    private static async Task<Results<Ok<GetChatState.View>, ProblemHttpResult>> StateAsync(
        string slug, string tokenId, HttpContext http, IMediator mediator, CancellationToken cancellationToken)
    {
        http.Response.Headers.CacheControl = "no-store";
        var session = await SessionLookup.FromRequestAsync(http);
        return (await mediator.Send(new GetChatState.Query(slug, tokenId, session?.Address), cancellationToken)).ToOk();
    }

    private static async Task<Results<Ok<ListHistory.Page>, ProblemHttpResult>> HistoryAsync(
        string slug, string tokenId, Guid? before, int? limit, HttpContext http, IMediator mediator, CancellationToken cancellationToken)
    {
        http.Response.Headers.CacheControl = "no-store";
        return (await mediator.Send(new ListHistory.Query(slug, tokenId, http.Caller().Address, before, limit), cancellationToken)).ToOk();
    }

    private static async Task<IResult> PageAsync(
        string slug, string tokenId, HttpContext http, IMediator mediator, WebChatAssets assets, CancellationToken cancellationToken)
    {
        if (!AgentAccess.IsTokenId(tokenId))
        {
            return new NotFound("token", tokenId).ToProblem();
        }

        var policy = await mediator.Send(new GetEmbedPolicy.Query(slug), cancellationToken);
        if (!policy.IsSuccess)
        {
            return policy.Error!.ToProblem();
        }

        var headers = http.Response.Headers;
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' "
            + $"ws://{http.Request.Host} wss://{http.Request.Host}; base-uri 'none'; form-action 'none'; frame-ancestors {policy.Value.FrameAncestors}";
        var html = assets.PageTemplate
            .Replace("{{slug}}", WebUtility.HtmlEncode(slug), StringComparison.Ordinal)
            .Replace("{{token_id}}", WebUtility.HtmlEncode(tokenId), StringComparison.Ordinal)
            .Replace("{{community_name}}", WebUtility.HtmlEncode(policy.Value.Name), StringComparison.Ordinal)
            .Replace("{{script}}", $"/webchat/{assets.Script.Hash}/chat.js", StringComparison.Ordinal)
            .Replace("{{style}}", $"/webchat/{assets.Style.Hash}/chat.css", StringComparison.Ordinal);
        return TypedResults.Content(html, "text/html; charset=utf-8");
    }

    private static IResult AssetAsync(string hash, string file, HttpContext http, WebChatAssets assets) =>
        assets.ByName(hash, file) is { } asset ? Serve(http, asset, "public, max-age=31536000, immutable") : new NotFound("asset", file).ToProblem();

    private static IResult Serve(HttpContext http, WebChatAssets.Asset asset, string cacheControl)
    {
        http.Response.Headers.CacheControl = cacheControl;
        http.Response.Headers.ETag = asset.ETag;
        http.Response.Headers.XContentTypeOptions = "nosniff";
        // The widget is loaded by other sites' pages.
        http.Response.Headers["Cross-Origin-Resource-Policy"] = "cross-origin";
        return http.Request.Headers.IfNoneMatch.ToString() == asset.ETag
            ? TypedResults.StatusCode(StatusCodes.Status304NotModified)
            : TypedResults.Bytes(asset.Bytes, asset.ContentType);
    }

    private static async Task<IResult> SocketAsync(
        string slug, string tokenId, HttpContext http, IServiceScopeFactory scopes, SocketHub hub, WebChatSettings settings, CancellationToken cancellationToken)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            return new WebSocketRequired().ToProblem();
        }

        if (!AgentAccess.IsTokenId(tokenId))
        {
            return new NotFound("token", tokenId).ToProblem();
        }

        if (hub.Draining)
        {
            return new ServerDraining().ToProblem();
        }

        // Admission in a scope of its own: the request's scope (and its DbContext) would otherwise live as long as the socket.
        Session? session;
        await using (var admission = scopes.CreateAsyncScope())
        {
            var policy = await admission.ServiceProvider.GetRequiredService<IMediator>().Send(new GetEmbedPolicy.Query(slug), cancellationToken);
            if (!policy.IsSuccess)
            {
                return policy.Error!.ToProblem();
            }

            var origin = http.Request.Headers.Origin.ToString();
            if (!policy.Value.Admits(origin, http.Request.Host.Value ?? ""))
            {
                return new OriginNotAllowed(origin).ToProblem();
            }

            session = await SessionLookup.FromRequestAsync(http, admission.ServiceProvider);
        }

        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = settings.PingInterval,
            KeepAliveTimeout = settings.PingInterval * 2,
        });
        var services = http.RequestServices;
        var chat = new ChatSocket(socket, slug, tokenId, session, scopes, hub,
            services.GetRequiredService<WalletSockets>(), services.GetRequiredService<FrameBudgets>(), settings, services.GetRequiredService<TimeProvider>());
        await chat.RunAsync(http.RequestAborted);
        return TypedResults.Empty;
    }
}
