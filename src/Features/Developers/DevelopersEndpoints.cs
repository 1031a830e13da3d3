using System.Text.Json;
using Carter;
using Freeside.Features.Common.Endpoints;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Developers.OpenAi;
using Freeside.Features.Identity.Sessions;
using Freeside.Features.Inference;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Developers;

public sealed class DevelopersEndpoints : ICarterModule
{
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var developer = app.MapGroup("/api/v1/developer").WithTags("Developers").RequireSession();
        developer.MapPost("/keys", CreateKeyAsync)
            .WithName("CreateApiKey")
            .WithSummary("Make an API key (mode test: the sandbox; live: charged to your developer account). The full key is in this answer only.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status409Conflict);
        developer.MapGet("/keys", ListKeysAsync)
            .WithName("ListApiKeys")
            .WithSummary("Your API keys, newest first, with their status and limits; never a secret.")
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        developer.MapPost("/keys/{id}/rotate", RotateKeyAsync)
            .WithName("RotateApiKey")
            .WithSummary("A new key replacing this one; the old key keeps working for grace_seconds (0–86400).")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        developer.MapDelete("/keys/{id}", RevokeKeyAsync)
            .WithName("DeleteApiKey")
            .WithSummary("Delete a key: refused on every replica from the next request.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);
        developer.MapGet("/balance", BalanceAsync)
            .WithName("GetDeveloperBalance")
            .WithSummary("Your developer account in micro-USD: available, reserved, consumed, expired, taken back by refunds, and debt (a refund of credits already spent; live calls are refused until a purchase repays it).")
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        developer.MapGet("/usage", UsageAsync)
            .WithName("GetDeveloperUsage")
            .WithSummary("Your API calls of the last `days` UTC days (1–90, default 30), per day, key and pool.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        var admin = app.MapGroup("/api/v1/admin/developers").WithTags("Developers").RequirePlatformAdmin();
        admin.MapPut("/{address}", SetTierAsync)
            .WithName("SetDeveloperTier")
            .WithSummary("Set a developer's tier (pro or enterprise): the pools its live keys may use.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        admin.MapPost("/{address}/grants", GrantAsync)
            .WithName("GrantDeveloperCredits")
            .WithSummary("Give a developer's account credits (idempotent per key).")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status409Conflict);

        var openAi = app.MapGroup("/v1").WithTags("OpenAI-compatible");
        openAi.MapGet("/models", ModelsAsync)
            .WithName("ListModels")
            .WithSummary("OpenAI-compatible: the models this API key may use (pools, and agent:<slug>/<tokenId> for NFTs you hold).")
            .Produces<ModelList>()
            .Produces<OpenAiErrorBody>(StatusCodes.Status401Unauthorized);
        openAi.MapPost("/chat/completions", CompletionsAsync)
            .WithName("CreateChatCompletion")
            .WithSummary("OpenAI-compatible chat completions with a Freeside API key as the bearer token; stream: true answers chat.completion.chunk events.")
            .Accepts<ChatCompletionRequest>("application/json")
            .Produces(StatusCodes.Status200OK, contentType: "application/json")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .Produces<OpenAiErrorBody>(StatusCodes.Status400BadRequest)
            .Produces<OpenAiErrorBody>(StatusCodes.Status401Unauthorized)
            .Produces<OpenAiErrorBody>(StatusCodes.Status403Forbidden)
            .Produces<OpenAiErrorBody>(StatusCodes.Status404NotFound)
            .Produces<OpenAiErrorBody>(StatusCodes.Status429TooManyRequests)
            .Produces<OpenAiErrorBody>(StatusCodes.Status503ServiceUnavailable);
    }

    public sealed record CreateKeyRequest(string? Name, string? Mode, int? RequestsPerMinute, int? TokensPerDay);

    public sealed record RotateKeyRequest(int? GraceSeconds);

    public sealed record TierRequest(string? Tier);

    public sealed record GrantRequest(long? AmountMicro, string? Reason, string? IdempotencyKey);

    private static async Task<Results<Created<CreateApiKey.CreatedKey>, ProblemHttpResult>> CreateKeyAsync(
        CreateKeyRequest body, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new CreateApiKey.Command(http.Caller().Address, body.Name, body.Mode, body.RequestsPerMinute, body.TokensPerDay), cancellationToken))
            .ToHttp(key => TypedResults.Created($"/api/v1/developer/keys/{key.Id}", key));

    private static async Task<Results<Ok<ListApiKeys.Page>, ProblemHttpResult>> ListKeysAsync(
        HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new ListApiKeys.Query(http.Caller().Address), cancellationToken)).ToOk();

    private static async Task<Results<Created<RotateApiKey.Rotated>, ProblemHttpResult>> RotateKeyAsync(
        string id, RotateKeyRequest body, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new RotateApiKey.Command(http.Caller().Address, id, body.GraceSeconds), cancellationToken))
            .ToHttp(rotated => TypedResults.Created($"/api/v1/developer/keys/{rotated.Key.Id}", rotated));

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokeKeyAsync(
        string id, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new RevokeApiKey.Command(http.Caller().Address, id), cancellationToken)).ToHttp(_ => TypedResults.NoContent());

    private static async Task<Results<Ok<GetDeveloperBalance.View>, ProblemHttpResult>> BalanceAsync(
        HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetDeveloperBalance.Query(http.Caller().Address), cancellationToken)).ToOk();

    private static async Task<Results<Ok<GetUsage.Report>, ProblemHttpResult>> UsageAsync(
        int? days, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetUsage.Query(http.Caller().Address, days), cancellationToken)).ToOk();

    private static async Task<Results<Ok<SetDeveloperTier.View>, ProblemHttpResult>> SetTierAsync(
        string address, TierRequest body, IMediator mediator, CancellationToken cancellationToken) =>
        Address(address) is { } wallet
            ? (await mediator.Send(new SetDeveloperTier.Command(wallet, body.Tier), cancellationToken)).ToOk()
            : BadAddress().ToProblem();

    private static async Task<Results<Ok<GrantDeveloperCredits.View>, ProblemHttpResult>> GrantAsync(
        string address, GrantRequest body, IMediator mediator, CancellationToken cancellationToken) =>
        Address(address) is { } wallet
            ? (await mediator.Send(new GrantDeveloperCredits.Command(wallet, body.AmountMicro, body.Reason, body.IdempotencyKey), cancellationToken)).ToOk()
            : BadAddress().ToProblem();

    private static EthereumAddress? Address(string text) => EthereumAddress.TryParse(text, out var address) ? address : null;

    private static ValidationFailed BadAddress() =>
        new(new Dictionary<string, string[]> { ["address"] = ["address must be a 0x-prefixed 20-byte hex address."] });

    public sealed record ModelEntry(string Id, string Object, long Created, string OwnedBy);

    public sealed record ModelList(string Object, IReadOnlyList<ModelEntry> Data);

    private static async Task<IResult> ModelsAsync(HttpContext http, IMediator mediator, CancellationToken cancellationToken)
    {
        var (key, failure) = await AuthenticateAsync(http, cancellationToken);
        if (key is null)
        {
            return failure!.ToOpenAi(http.Response);
        }

        var models = await mediator.Send(new ListModels.Query(key), cancellationToken);
        return models.IsSuccess
            ? TypedResults.Json(new ModelList("list", [.. models.Value.Select(id => new ModelEntry(id, "model", 0, "freeside"))]), OpenAiChatSink.Json)
            : models.Error!.ToOpenAi(http.Response);
    }

    private static async Task<IResult> CompletionsAsync(HttpContext http, IMediator mediator, CancellationToken cancellationToken)
    {
        var (key, failure) = await AuthenticateAsync(http, cancellationToken);
        if (key is null)
        {
            return failure!.ToOpenAi(http.Response);
        }

        var (body, invalid) = await ChatCompletionRequest.ReadAsync(http.Request, cancellationToken);
        if (body is null)
        {
            return invalid!.ToOpenAi(http.Response);
        }

        var stream = body.Stream == true;
        var maxTokens = body.MaxCompletionTokens ?? body.MaxTokens;
        var sink = new OpenAiChatSink(http.Response, body.Model ?? "", stream, body.StreamOptions?.IncludeUsage == true,
            maxTokens ?? CompleteChat.MaxCompletionTokens, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var result = await mediator.Send(new CompleteChat.Command(key, body.Model, body.Turns(), maxTokens, body.Temperature, body.StopList(), body.User, sink),
            cancellationToken);
        if (stream && sink.Started)
        {
            if (!result.IsSuccess)
            {
                await sink.ErrorAsync(result.Error!.Type, result.Error.Detail, cancellationToken);
            }

            return TypedResults.Empty;
        }

        if (!result.IsSuccess)
        {
            return result.Error!.ToOpenAi(http.Response);
        }

        var outcome = result.Value.Outcome;
        if (!outcome.Completed || sink.Ended is not { } ended)
        {
            return new FinnUnavailable("The agent's answer broke off; only what was delivered was charged.").ToOpenAi(http.Response);
        }

        http.Response.Headers["X-Freeside-Cost-Micro"] = outcome.ChargedMicro.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Json(new
        {
            id = sink.Id,
            @object = "chat.completion",
            created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            model = result.Value.Model,
            system_fingerprint = (string?)null,
            choices = new[]
            {
                new { index = 0, message = new { role = "assistant", content = sink.Content, refusal = (string?)null }, logprobs = (object?)null, finish_reason = sink.FinishReason },
            },
            usage = OpenAiChatSink.Usage(ended),
        }, OpenAiChatSink.Json);
    }

    private static async Task<(VerifiedKey? Key, Error? Failure)> AuthenticateAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var header = http.Request.Headers.Authorization.ToString();
        var presented = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
        var (check, key) = await http.RequestServices.GetRequiredService<ApiKeyVerifier>().VerifyAsync(presented, cancellationToken);
        return check switch
        {
            KeyCheck.Valid => (key, null),
            KeyCheck.Revoked => (null, new InvalidApiKey("This API key has been deleted.")),
            KeyCheck.Expired => (null, new InvalidApiKey("This API key was rotated and its grace period has ended.")),
            _ => (null, new InvalidApiKey(presented is null
                ? "You didn't provide an API key. Send it as 'Authorization: Bearer lf_live_…' (or lf_test_…)."
                : "Incorrect API key provided.")),
        };
    }
}
