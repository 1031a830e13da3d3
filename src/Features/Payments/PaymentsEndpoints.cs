using Carter;
using Freeside.Features.Common.Errors;
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
            .WithSummary("NOWPayments IPN: x-nowpayments-sig must verify; every signed IPN is acknowledged with 200, applied at most once.")
            .Accepts<object>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
    }

    private static async Task<Results<Ok<IReadOnlyList<ListCreditPacks.PackView>>, ProblemHttpResult>> PacksAsync(
        IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new ListCreditPacks.Query(), cancellationToken)).ToOk();

    private static async Task<Results<Ok<ReceiveIpn.Outcome>, ProblemHttpResult>> WebhookAsync(
        HttpRequest request, IMediator mediator, CancellationToken cancellationToken)
    {
        var body = await ReadLimitedAsync(request.Body, ReceiveIpn.MaxBodyBytes, cancellationToken);
        if (body is null)
        {
            var problem = ProblemMapping.ToProblemDetails(new IpnTooLarge(ReceiveIpn.MaxBodyBytes));
            problem.Status = StatusCodes.Status413PayloadTooLarge;
            return TypedResults.Problem(problem);
        }

        var signature = request.Headers.TryGetValue(IpnVerifier.HeaderName, out var values) ? values.ToString() : null;
        return (await mediator.Send(new ReceiveIpn.Command(body, signature), cancellationToken)).ToOk();
    }

    /// <summary>The body, or null when it is longer than <paramref name="limit"/> (read no further than one byte past it).</summary>
    private static async Task<byte[]?> ReadLimitedAsync(Stream body, int limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > limit)
            {
                return null;
            }
        }

        return buffer.ToArray();
    }
}
