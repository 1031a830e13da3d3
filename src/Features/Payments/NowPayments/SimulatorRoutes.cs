using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Payments.NowPayments;

/// <summary>
/// The NOWPayments simulator's HTTP face (NOWPAYMENTS_ENVIRONMENT=simulator only; 404 otherwise):
/// the API calls the client makes (/v1/auth, /v1/invoice, /v1/payment), and the invoice page whose buttons deliver signed IPNs.
/// Not part of Freeside's API, so it stays out of the OpenAPI document; mapped by <see cref="PaymentsEndpoints"/>.
/// </summary>
public static class SimulatorRoutes
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup(NowPaymentsSimulator.BasePath).ExcludeFromDescription()
            .AddEndpointFilter(async (context, next) =>
                context.HttpContext.RequestServices.GetRequiredService<NowPaymentsSimulator>().Enabled ? await next(context) : TypedResults.NotFound());
        group.MapPost("/v1/auth", SignInAsync);
        group.MapPost("/v1/invoice", CreateInvoiceAsync);
        group.MapGet("/v1/payment/{paymentId}", GetPayment);
        group.MapGet("/v1/payment/", ListPayments);
        group.MapGet("/invoice/{invoiceId}", InvoicePage);
        group.MapPost("/invoice/{invoiceId}", DeliverAsync).DisableAntiforgery();
    }

    private static async Task<IResult> CreateInvoiceAsync(HttpRequest request, NowPaymentsSimulator simulator, CancellationToken cancellationToken)
    {
        if (!simulator.KeyMatches(request.Headers["x-api-key"]))
        {
            return TypedResults.Json(new { message = "Invalid api key" }, statusCode: StatusCodes.Status403Forbidden);
        }

        var body = await JsonSerializer.DeserializeAsync<JsonElement>(request.Body, cancellationToken: cancellationToken);
        var publicBase = new Uri($"{request.Scheme}://{request.Host}/");
        return simulator.CreateInvoice(body, publicBase) is { } invoice
            ? TypedResults.Text(invoice.ToJsonString(), "application/json")
            : TypedResults.Json(new { message = "order_id, price_amount and ipn_callback_url are required" }, statusCode: StatusCodes.Status400BadRequest);
    }

    private static IResult GetPayment(string paymentId, HttpRequest request, NowPaymentsSimulator simulator) =>
        !simulator.KeyMatches(request.Headers["x-api-key"]) ? TypedResults.StatusCode(StatusCodes.Status403Forbidden)
        : simulator.PaymentDocument(paymentId) is { } payment ? TypedResults.Text(payment.ToJsonString(), "application/json")
        : TypedResults.NotFound();

    private static async Task<IResult> SignInAsync(HttpRequest request, NowPaymentsSimulator simulator, CancellationToken cancellationToken)
    {
        var body = await JsonSerializer.DeserializeAsync<JsonElement>(request.Body, cancellationToken: cancellationToken);
        string? Field(string name) => body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;
        return simulator.SignIn(Field("email"), Field("password")) is { } token
            ? TypedResults.Json(new { token })
            : TypedResults.Json(new { message = "Invalid email or password" }, statusCode: StatusCodes.Status401Unauthorized);
    }

    /// <summary>Like NOWPayments: listing payments takes the API key and the account's JWT.</summary>
    private static IResult ListPayments(string? invoiceId, HttpRequest request, NowPaymentsSimulator simulator) =>
        !simulator.KeyMatches(request.Headers["x-api-key"]) ? TypedResults.StatusCode(StatusCodes.Status403Forbidden)
        : !simulator.BearerMatches(request.Headers.Authorization) ? TypedResults.Json(new { message = "Authorization header is empty (Bearer JWTtoken is required)" }, statusCode: StatusCodes.Status401Unauthorized)
        : TypedResults.Text(new System.Text.Json.Nodes.JsonObject
        {
            ["data"] = invoiceId is not null && simulator.PaymentOfInvoice(invoiceId) is { } payment ? new System.Text.Json.Nodes.JsonArray(payment) : [],
        }.ToJsonString(), "application/json");

    private static Results<ContentHttpResult, NotFound> InvoicePage(string invoiceId, NowPaymentsSimulator simulator) =>
        simulator.Invoice(invoiceId) is { } invoice ? TypedResults.Content(NowPaymentsSimulator.Page(invoice, null), "text/html; charset=utf-8") : TypedResults.NotFound();

    private static async Task<IResult> DeliverAsync(string invoiceId, HttpRequest request, NowPaymentsSimulator simulator, CancellationToken cancellationToken)
    {
        var form = await request.ReadFormAsync(cancellationToken);
        var action = form["action"].ToString();
        if (simulator.Invoice(invoiceId) is not { } invoice)
        {
            return TypedResults.NotFound();
        }

        if (NowPaymentsSimulator.Sequence(action) is null)
        {
            return TypedResults.BadRequest("action must be pay, partial, expire, fail or refund");
        }

        var delivered = await simulator.DeliverAsync(invoice, action, form["twice"] == "true", form["shuffle"] == "true", cancellationToken);
        return TypedResults.Content(NowPaymentsSimulator.Page(invoice, delivered), "text/html; charset=utf-8");
    }
}
