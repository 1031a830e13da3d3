using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Freeside.Tests.Payments.NowPayments;

/// <summary>
/// NOWPayments on a real loopback Kestrel socket: POST /v1/auth, POST /v1/invoice, GET /v1/payment/{id}
/// and the payment list (which, like the real API, wants the account's JWT besides the API key) as the
/// real API answers them, unless a test has queued scripted answers (5xx, 429, garbage, silence).
/// </summary>
public sealed class NowPaymentsFake : IAsyncDisposable
{
    private readonly WebApplication _app;
    private long _invoices = 4_522_625_000;

    public NowPaymentsFake()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    public Uri Url { get; private set; } = null!;

    /// <summary>Every request seen: method, path, x-api-key and body.</summary>
    public ConcurrentQueue<(string Method, string Path, string? ApiKey, string Body)> Requests { get; } = new();

    public const string AccountEmail = "billing@freeside.test";

    public const string AccountPassword = "correct horse battery staple";

    /// <summary>JWTs handed out by POST /v1/auth; a test removes one to expire it early.</summary>
    public ConcurrentDictionary<string, bool> Tokens { get; } = new();

    /// <summary>The Authorization header of every payment-list request.</summary>
    public ConcurrentQueue<string> ListAuthorizations { get; } = new();

    /// <summary>Answers used before the default behaviour, one per request, in order.</summary>
    public ConcurrentQueue<Func<HttpContext, Task>> Script { get; } = new();

    /// <summary>When set, every request gets this answer (a provider that is down).</summary>
    public Func<HttpContext, Task>? Always { get; set; }

    /// <summary>GET /v1/payment/{id} answers: NOWPayments payment id → its current status document.</summary>
    public ConcurrentDictionary<string, object> Payments { get; } = new();

    /// <summary>GET /v1/payment/?invoiceId=… answers: our invoice id → the payment made against it.</summary>
    public ConcurrentDictionary<string, object> InvoicePayments { get; } = new();

    public async Task StartAsync()
    {
        await _app.StartAsync();
        Url = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
    }

    public static Func<HttpContext, Task> Status(int status, string body = "{}") => async context =>
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body);
    };

    public static Func<HttpContext, Task> Silence => async context => await Task.Delay(TimeSpan.FromMinutes(1), context.RequestAborted);

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync();
        Requests.Enqueue((context.Request.Method, context.Request.Path.Value!, context.Request.Headers["x-api-key"].ToString(), body));
        if (Always is { } always)
        {
            await always(context);
            return;
        }

        if (Script.TryDequeue(out var scripted))
        {
            await scripted(context);
            return;
        }

        if (context.Request.Method == "POST" && context.Request.Path == "/v1/invoice")
        {
            using var json = JsonDocument.Parse(body);
            var id = Interlocked.Increment(ref _invoices).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await context.Response.WriteAsJsonAsync(new Dictionary<string, object?>
            {
                ["id"] = id,
                ["order_id"] = json.RootElement.GetProperty("order_id").GetString(),
                ["price_amount"] = json.RootElement.GetProperty("price_amount").GetRawText(),
                ["price_currency"] = "usd",
                ["invoice_url"] = $"{Url}payment/?iid={id}",
                ["created_at"] = DateTimeOffset.UtcNow,
            });
            return;
        }

        if (context.Request.Method == "POST" && context.Request.Path == "/v1/auth")
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.GetProperty("email").GetString() != AccountEmail || json.RootElement.GetProperty("password").GetString() != AccountPassword)
            {
                context.Response.StatusCode = 401;
                await context.Response.WriteAsJsonAsync(new { message = "Invalid email or password" });
                return;
            }

            var token = Guid.NewGuid().ToString("N");
            Tokens[token] = true;
            await context.Response.WriteAsJsonAsync(new { token });
            return;
        }

        if (context.Request.Method == "GET" && context.Request.Path == "/v1/payment/" && context.Request.Query["invoiceId"].ToString() is { Length: > 0 } invoiceId)
        {
            var authorization = context.Request.Headers.Authorization.ToString();
            ListAuthorizations.Enqueue(authorization);
            if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal) || !Tokens.ContainsKey(authorization[7..]))
            {
                context.Response.StatusCode = 401;
                await context.Response.WriteAsJsonAsync(new { message = "Authorization header is empty (Bearer JWTtoken is required)" });
                return;
            }

            await context.Response.WriteAsJsonAsync(new { data = InvoicePayments.TryGetValue(invoiceId, out var paid) ? new[] { paid } : [], limit = 1, page = 0 });
            return;
        }

        if (context.Request.Method == "GET" && context.Request.Path.StartsWithSegments("/v1/payment", out var rest)
            && Payments.TryGetValue(rest.Value!.Trim('/'), out var payment))
        {
            await context.Response.WriteAsJsonAsync(payment);
            return;
        }

        context.Response.StatusCode = 404;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
