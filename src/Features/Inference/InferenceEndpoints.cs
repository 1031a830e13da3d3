using System.Buffers;
using System.Text;
using System.Text.Json;
using Carter;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Identity.Sessions;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Freeside.Features.Inference;

public sealed class InferenceEndpoints : ICarterModule
{
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1").WithTags("Agents");
        group.MapPost("/agents/{slug}/{tokenId}/chat", ChatAsync)
            .RequireSession()
            .WithRateLimitHeaders()
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .WithName("ChatWithAgent")
            .WithSummary("Talk to the agent of an NFT you own; streams Server-Sent Events start, token…, then end or error.")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status402PaymentRequired)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesProblem(StatusCodes.Status504GatewayTimeout);

        group.MapPut("/communities/{slug}/agent-settings", SettingsAsync)
            .RequirePlatformAdminOrSession()
            .WithName("SetAgentSettings")
            .WithSummary("Set the community's per-wallet daily chat cap in micro-USD (a community admin's session, or the platform admin).")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("/agents/{slug}/{tokenId}", ProfileAsync)
            .WithName("GetAgentProfile")
            .WithSummary("An agent's public profile (display name, element, summary); cached for five minutes.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        group.MapGet("/agents/{slug}/{tokenId}/conversations", ConversationsAsync)
            .RequireSession()
            .WithName("ListAgentConversations")
            .WithSummary("Your conversations with the agent of an NFT you own, newest first.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("/agents/{slug}/{tokenId}/conversations/{conversationId:guid}/messages", MessagesAsync)
            .RequireSession()
            .WithName("ListAgentMessages")
            .WithSummary("A conversation's messages, newest first; page with before=<last message id>.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    public sealed record AgentSettingsRequest(long? DailyCapPerWalletMicro);

    private static async Task<Results<Ok<SetAgentSettings.View>, ProblemHttpResult>> SettingsAsync(
        string slug, AgentSettingsRequest body, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new SetAgentSettings.Command(slug, body.DailyCapPerWalletMicro, http.CallerOrPlatform()?.Address), cancellationToken)).ToOk();

    private static async Task<Results<Ok<GetAgentProfile.ProfileView>, ProblemHttpResult>> ProfileAsync(
        string slug, string tokenId, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetAgentProfile.Query(slug, tokenId), cancellationToken)).ToOk();

    private static async Task<Results<Ok<IReadOnlyList<ListConversations.ConversationView>>, ProblemHttpResult>> ConversationsAsync(
        string slug, string tokenId, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new ListConversations.Query(slug, tokenId, http.Caller().Address), cancellationToken)).ToOk();

    private static async Task<Results<Ok<ListMessages.MessagePage>, ProblemHttpResult>> MessagesAsync(
        string slug, string tokenId, Guid conversationId, Guid? before, int? limit, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new ListMessages.Query(slug, tokenId, http.Caller().Address, conversationId, before, limit), cancellationToken)).ToOk();

    public sealed record ChatRequest(string? Message, string? Pool, Guid? ConversationId, Ensembles.Request? Ensemble = null);

    private static async Task<Results<EmptyHttpResult, ProblemHttpResult>> ChatAsync(
        string slug, string tokenId, ChatRequest body, HttpContext http, IMediator mediator, CancellationToken cancellationToken)
    {
        var sink = new SseChatSink(http.Response);
        var result = await mediator.Send(new Chat.Command(slug, tokenId, http.Caller().Address, body.Message ?? "", body.Pool, ChatSource.Web, sink, body.ConversationId,
            Ensemble: body.Ensemble),
            cancellationToken);
        if (result.IsSuccess)
        {
            return TypedResults.Empty;
        }

        if (sink.Started)
        {
            // Headers are gone: the failure can only travel as the stream's last event.
            await sink.ErrorAsync(result.Error!.Type, result.Error.Detail, cancellationToken);
            return TypedResults.Empty;
        }

        if (result.Error is ChatRateLimited limited)
        {
            http.Response.Headers["X-RateLimit-Policy"] = limited.Dimension;
        }

        return result.Error!.ToProblem();
    }
}

/// <summary>Writes a chat as Server-Sent Events: start, token…, end or error; headers go with start.</summary>
public sealed class SseChatSink(HttpResponse response) : IChatSink
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public bool Started { get; private set; }

    public async Task StartAsync(Chat.Started started, CancellationToken cancellationToken)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Pool-Used"] = started.Pool;
        response.Headers["X-Personality-Id"] = started.PersonalityId;
        Started = true;
        await WriteAsync("start", new { conversation_id = started.ConversationId, message_id = started.MessageId, pool = started.Pool, personality_id = started.PersonalityId },
            cancellationToken);
    }

    public Task TokenAsync(string text, CancellationToken cancellationToken)
    {
        Write("token", new { text });
        return Task.CompletedTask;
    }

    public async Task FlushAsync(CancellationToken cancellationToken) => await response.BodyWriter.FlushAsync(cancellationToken);

    public Task EndAsync(Chat.Ended ended, CancellationToken cancellationToken) => WriteAsync("end", new
    {
        usage = new { prompt_tokens = ended.PromptTokens, completion_tokens = ended.CompletionTokens },
        cost_micro = ended.CostMicro,
        balance_micro = ended.BalanceMicro,
    }, cancellationToken);

    public Task ErrorAsync(string code, string message, CancellationToken cancellationToken) =>
        WriteAsync("error", new { code, message }, cancellationToken);

    private async Task WriteAsync(string name, object data, CancellationToken cancellationToken)
    {
        Write(name, data);
        await response.BodyWriter.FlushAsync(cancellationToken);
    }

    /// <summary>One event into the response's buffer, its data serialized straight into it; sent by the next flush.</summary>
    private void Write(string name, object data)
    {
        var body = response.BodyWriter;
        body.Write(Encoding.UTF8.GetBytes("event: " + name + "\ndata: "));
        using (var json = new Utf8JsonWriter(body))
        {
            JsonSerializer.Serialize(json, data, Json);
        }

        body.Write("\n\n"u8);
    }
}
