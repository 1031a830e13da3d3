using Carter;
using Freeside.Features.Common.Endpoints;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Discord.Client;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Freeside.Features.Discord;

public sealed class DiscordEndpoints : ICarterModule
{
    public sealed record ConnectGuildBody(string? GuildId, string? AgentChannelId);

    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapPost("/api/discord/interactions", InteractionAsync)
            .WithTags("Discord")
            .WithName("ReceiveDiscordInteraction")
            .RequireOwnRateLimitPerClient(RateLimitPolicies.Webhook)
            .WithSummary("Discord's HTTP interactions: Ed25519 over X-Signature-Timestamp ‖ body must verify (else 401); PING → PONG, slash commands → a deferred answer.")
            .Accepts<object>("application/json")
            .Produces<InteractionResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        app.MapGet("/api/v1/admin/discord/dead-letters", DeadLettersAsync)
            .WithTags("Discord")
            .RequirePlatformAdmin()
            .WithName("ListDiscordDeadLetters")
            .WithSummary("Discord writes the queue gave up on, newest first (platform admin); limit ≤ 100. Webhook tokens are masked.")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesValidationProblem();

        app.MapPut("/api/v1/admin/communities/{slug}/discord", ConnectAsync)
            .WithTags("Discord")
            .RequirePlatformAdmin()
            .WithName("ConnectDiscordGuild")
            .WithSummary("Connects a Discord server (guild_id) to the community, optionally naming the channel agent threads open in (platform admin).")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesValidationProblem();
    }

    private static async Task<IResult> InteractionAsync(HttpRequest request, IMediator mediator, CancellationToken cancellationToken)
    {
        var body = await RawBody.ReadLimitedAsync(request.Body, ReceiveInteraction.MaxBodyBytes, cancellationToken);
        if (body is null)
        {
            var problem = ProblemMapping.ToProblemDetails(new InteractionMalformed($"The body is longer than {ReceiveInteraction.MaxBodyBytes} bytes."));
            problem.Status = StatusCodes.Status413PayloadTooLarge;
            return TypedResults.Problem(problem);
        }

        var result = await mediator.Send(new ReceiveInteraction.Command(body,
            request.Headers[InteractionSignature.TimestampHeader].ToString(), request.Headers[InteractionSignature.SignatureHeader].ToString()), cancellationToken);
        return result.IsSuccess ? TypedResults.Json(result.Value, DiscordJson.Options) : result.Error!.ToProblem();
    }

    private static async Task<Results<Ok<ListDeadLetters.Page>, ProblemHttpResult>> DeadLettersAsync(int? limit, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new ListDeadLetters.Query(limit), cancellationToken)).ToOk();

    private static async Task<Results<Ok<ConnectGuild.GuildView>, ProblemHttpResult>> ConnectAsync(
        string slug, ConnectGuildBody body, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new ConnectGuild.Command(slug, body.GuildId, body.AgentChannelId), cancellationToken)).ToOk();
}
