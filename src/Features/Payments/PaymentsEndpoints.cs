using Carter;
using Freeside.Features.Common.Endpoints;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Identity.Sessions;
using Freeside.Features.Payments.NowPayments;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Freeside.Features.Payments;

public sealed class PaymentsEndpoints : ICarterModule
{
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/credit-packs", PacksAsync)
            .WithTags("Payments")
            .WithName("ListCreditPacks")
            .WithSummary("The credit packs on sale: price and credits in micro-USD.");

        app.MapPost("/api/crypto/webhook", WebhookAsync)
            .WithTags("Payments")
            .WithName("ReceiveNowPaymentsIpn")
            .RequireOwnRateLimitPerClient(RateLimitPolicies.Webhook)
            .WithSummary("NOWPayments IPN: x-nowpayments-sig must verify; every signed IPN is acknowledged with 200, applied at most once.")
            .Accepts<object>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        app.MapPost("/api/v1/payments", CheckoutAsync)
            .WithTags("Payments")
            .RequireSession()
            .WithName("CreatePayment")
            .WithSummary("Checkout: a NOWPayments invoice for a credit pack, topping up a community (community: slug) or the caller's developer account (developer: true).")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status502BadGateway)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesValidationProblem();

        app.MapGet("/api/v1/payments/{paymentId:guid}", GetAsync)
            .WithTags("Payments")
            .RequirePlatformAdminOrSession()
            .WithName("GetPayment")
            .WithSummary("A payment's status and what it means for the payer (the payer, the community's admins, the platform admin).")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);

        app.MapGet("/api/v1/admin/payments", AdminListAsync)
            .WithTags("Payments")
            .RequirePlatformAdmin()
            .WithName("ListPayments")
            .WithSummary("Payments for the platform admin: status=stuck (default; open for over 30 minutes), unmatched (IPNs no payment claimed) or all; limit ≤ 100, cursor from next_cursor.")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesValidationProblem();

        app.MapPost("/api/v1/admin/payments/{paymentId:guid}/reconcile", AdminReconcileAsync)
            .WithTags("Payments")
            .RequirePlatformAdmin()
            .WithName("ReconcilePayment")
            .WithSummary("Asks NOWPayments where the payment stands now and applies it through the state machine (platform admin; logged).")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status502BadGateway);

        SimulatorRoutes.Map(app);
    }

    private static async Task<Results<Ok<ListPayments.Page>, ProblemHttpResult>> AdminListAsync(
        string? status, int? limit, string? cursor, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new ListPayments.Query(status, limit, cursor), cancellationToken)).ToOk();

    private static async Task<Results<Ok<ReconcilePayment.ReconcileView>, ProblemHttpResult>> AdminReconcileAsync(
        Guid paymentId, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new ReconcilePayment.Command(paymentId, "platform-admin"), cancellationToken)).ToOk();

    public sealed record CheckoutRequest(string? PackId, string? Community, bool? Developer);

    private static async Task<Results<Created<CreatePayment.PaymentView>, ProblemHttpResult>> CheckoutAsync(
        CheckoutRequest body, HttpContext http, IMediator mediator, CancellationToken cancellationToken)
    {
        var result = await mediator.Send(new CreatePayment.Command(http.Caller().Address, body.PackId, body.Community, body.Developer), cancellationToken);
        return result.IsSuccess
            ? TypedResults.Created($"/api/v1/payments/{result.Value.PaymentId}", result.Value)
            : result.Error!.ToProblem();
    }

    private static async Task<Results<Ok<CreatePayment.PaymentView>, ProblemHttpResult>> GetAsync(
        Guid paymentId, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetPayment.Query(paymentId, http.CallerOrPlatform()?.Address), cancellationToken)).ToOk();

    private static async Task<Results<Ok<IReadOnlyList<ListCreditPacks.PackView>>, ProblemHttpResult>> PacksAsync(
        IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new ListCreditPacks.Query(), cancellationToken)).ToOk();

    private static async Task<Results<Ok<ReceiveIpn.Outcome>, ProblemHttpResult>> WebhookAsync(
        HttpRequest request, IMediator mediator, CancellationToken cancellationToken)
    {
        var body = await RawBody.ReadLimitedAsync(request.Body, ReceiveIpn.MaxBodyBytes, cancellationToken);
        if (body is null)
        {
            var problem = ProblemMapping.ToProblemDetails(new IpnTooLarge(ReceiveIpn.MaxBodyBytes));
            problem.Status = StatusCodes.Status413PayloadTooLarge;
            return TypedResults.Problem(problem);
        }

        var signature = request.Headers.TryGetValue(IpnVerifier.HeaderName, out var values) ? values.ToString() : null;
        return (await mediator.Send(new ReceiveIpn.Command(body, signature), cancellationToken)).ToOk();
    }
}
