using Freeside.Features.Common.Endpoints;
using Carter;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.RateLimiting;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Freeside.Features.Telegram;

public sealed class TelegramEndpoints : ICarterModule
{
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapPost("/api/telegram/webhook", WebhookAsync)
            .WithTags("Telegram")
            .WithName("ReceiveTelegramUpdate")
            .RequireOwnRateLimitPerClient(RateLimitPolicies.Webhook)
            .WithSummary("Telegram Bot API webhook: X-Telegram-Bot-Api-Secret-Token must equal TELEGRAM_WEBHOOK_SECRET; each update id is processed once.")
            .Accepts<object>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
    }

    private static async Task<Results<Ok<ReceiveUpdate.Outcome>, ProblemHttpResult>> WebhookAsync(
        HttpRequest request, IMediator mediator, CancellationToken cancellationToken)
    {
        var body = await RawBody.ReadLimitedAsync(request.Body, ReceiveUpdate.MaxBodyBytes, cancellationToken);
        if (body is null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Update too large.",
                detail: $"A Telegram update is at most {ReceiveUpdate.MaxBodyBytes} bytes.", type: "https://freeside.dev/problems/body-too-large");
        }

        var secret = request.Headers.TryGetValue(ReceiveUpdate.SecretHeader, out var values) ? values.ToString() : null;
        return (await mediator.Send(new ReceiveUpdate.Command(body, secret), cancellationToken)).ToOk();
    }
}
