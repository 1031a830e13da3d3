using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Common.Errors;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Freeside.Features.Payments.NowPayments;

public sealed record NowPaymentsFailed(string Detail)
    : Error(ErrorKind.BadGateway, "payment-provider-failed", "The payment provider did not answer usefully.", Detail)
{
    /// <summary>The provider's HTTP status when it refused the call (a 401 renews the JWT).</summary>
    internal int? Status { get; init; }
}

/// <summary>NOWPayments' invoice as we need it.</summary>
public sealed record NowPaymentsInvoice(string InvoiceId, string InvoiceUrl);

/// <summary>A payment's state at NOWPayments (GET /v1/payment/{id}).</summary>
public sealed record NowPaymentsPayment(string PaymentId, string Status, string? OrderId, string? InvoiceId, string? PayCurrency, string? ActuallyPaid);

/// <summary>
/// NOWPayments' REST API (x-api-key). Every call runs inside a 30 s budget: each attempt has its own
/// timeout, a 5xx or a dropped connection is retried with exponential backoff while the budget lasts,
/// and a breaker (counting attempts, inside the retry) stops calling a provider that keeps failing. 429 is not retried (their limit is
/// per key, so hammering it makes things worse). Whatever goes wrong is a <see cref="NowPaymentsFailed"/>
/// value, which the API answers as 502; it never throws for the provider's faults.
/// </summary>
public sealed partial class NowPaymentsClient
{
    public const string HttpClientName = "nowpayments";

    private readonly IHttpClientFactory _httpClients;
    private readonly PaymentsSettings _settings;
    private readonly ILogger<NowPaymentsClient> _logger;
    private readonly ResiliencePipeline _pipeline;
    private readonly SemaphoreSlim _signIn = new(1, 1);
    private (string Token, DateTimeOffset Until)? _jwt;

    public NowPaymentsClient(IHttpClientFactory httpClients, PaymentsSettings settings, ILogger<NowPaymentsClient> logger)
    {
        _httpClients = httpClients;
        _settings = settings;
        _logger = logger;
        _pipeline = new ResiliencePipelineBuilder()
            .AddTimeout(settings.CallBudget)
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = 4,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(250),
                ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>().Handle<TimeoutRejectedException>().Handle<ProviderServerError>(),
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = 0.5,
                MinimumThroughput = 8,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = TimeSpan.FromSeconds(15),
                ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>().Handle<TimeoutRejectedException>().Handle<ProviderServerError>(),
            })
            .AddTimeout(settings.AttemptTimeout)
            .Build();
    }

    public async Task<Result<NowPaymentsInvoice>> CreateInvoiceAsync(string orderId, long priceMicro, string description, Uri ipnCallbackUrl,
        Uri? successUrl, CancellationToken cancellationToken)
    {
        var body = new Dictionary<string, object?>
        {
            ["price_amount"] = PriceAmount(priceMicro),
            ["price_currency"] = "usd",
            ["order_id"] = orderId,
            ["order_description"] = description,
            ["ipn_callback_url"] = ipnCallbackUrl.ToString(),
            ["success_url"] = successUrl?.ToString(),
        };
        var answer = await CallAsync(HttpMethod.Post, "v1/invoice", body, cancellationToken);
        if (answer.Error is { } error)
        {
            return error;
        }

        var id = Text(answer.Value, "id");
        var url = Text(answer.Value, "invoice_url");
        return id is null || url is null || !Uri.TryCreate(url, UriKind.Absolute, out _)
            ? new NowPaymentsFailed("The invoice answer has no id or invoice_url.")
            : new NowPaymentsInvoice(id, url);
    }

    public async Task<Result<NowPaymentsPayment>> GetPaymentAsync(string paymentId, CancellationToken cancellationToken)
    {
        var answer = await CallAsync(HttpMethod.Get, "v1/payment/" + Uri.EscapeDataString(paymentId), null, cancellationToken);
        if (answer.Error is { } error)
        {
            return error;
        }

        var status = Text(answer.Value, "payment_status");
        return status is null
            ? new NowPaymentsFailed("The payment answer has no payment_status.")
            : new NowPaymentsPayment(Text(answer.Value, "payment_id") ?? paymentId, status, Text(answer.Value, "order_id"), Text(answer.Value, "invoice_id"),
                Text(answer.Value, "pay_currency"), Text(answer.Value, "actually_paid"));
    }

    /// <summary>
    /// The newest payment made against one of our invoices (GET /v1/payment/?invoiceId=…), or null when
    /// nobody has paid it yet. This is how reconciliation finds a payment whose IPNs were all lost:
    /// without an IPN we do not know NOWPayments' payment id.
    /// </summary>
    public async Task<Result<NowPaymentsPayment?>> FindPaymentByInvoiceAsync(string invoiceId, CancellationToken cancellationToken)
    {
        if (_settings.AccountEmail is null || _settings.AccountPassword is null)
        {
            return new NowPaymentsFailed("NOWPayments lists payments only with a JWT from /v1/auth: set NOWPAYMENTS_EMAIL and NOWPAYMENTS_PASSWORD.");
        }

        var path = "v1/payment/?invoiceId=" + Uri.EscapeDataString(invoiceId) + "&sortBy=created_at&orderBy=desc&limit=1";
        var answer = await CallWithJwtAsync(path, cancellationToken);
        if (answer.Error is { } error)
        {
            return error;
        }

        if (!answer.Value.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
        {
            return new NowPaymentsFailed("The payment list has no data array.");
        }

        var first = data.EnumerateArray().FirstOrDefault();
        if (first.ValueKind != JsonValueKind.Object)
        {
            return Result<NowPaymentsPayment?>.Success(null);
        }

        var id = Text(first, "payment_id");
        var status = Text(first, "payment_status");
        return id is null || status is null
            ? new NowPaymentsFailed("A listed payment has no payment_id or payment_status.")
            : new NowPaymentsPayment(id, status, Text(first, "order_id"), Text(first, "invoice_id") ?? invoiceId, Text(first, "pay_currency"),
                Text(first, "actually_paid"));
    }

    /// <summary>
    /// A GET that needs the account's JWT: a cached token (NOWPayments' tokens live 5 minutes; ours is
    /// renewed after 4), and on a 401 one fresh sign-in and one more try.
    /// </summary>
    private async Task<Result<JsonElement>> CallWithJwtAsync(string path, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var token = await JwtAsync(renew: attempt > 0, cancellationToken);
            if (token.Error is { } refused)
            {
                return refused;
            }

            var answer = await CallAsync(HttpMethod.Get, path, null, cancellationToken, token.Value);
            if (answer.Error is not NowPaymentsFailed { Status: 401 } || attempt > 0)
            {
                return answer;
            }
        }
    }

    private async Task<Result<string>> JwtAsync(bool renew, CancellationToken cancellationToken)
    {
        await _signIn.WaitAsync(cancellationToken);
        try
        {
            if (!renew && _jwt is { } cached && cached.Until > DateTimeOffset.UtcNow)
            {
                return cached.Token;
            }

            _jwt = null;
            var answer = await CallAsync(HttpMethod.Post, "v1/auth",
                new Dictionary<string, object?> { ["email"] = _settings.AccountEmail, ["password"] = _settings.AccountPassword }, cancellationToken);
            if (answer.Error is { } error)
            {
                return error;
            }

            if (Text(answer.Value, "token") is not { Length: > 0 } token)
            {
                return new NowPaymentsFailed("The /v1/auth answer has no token.");
            }

            _jwt = (token, DateTimeOffset.UtcNow.AddMinutes(4));
            return token;
        }
        finally
        {
            _signIn.Release();
        }
    }

    /// <summary>USD with up to six decimals, from integer micro-USD; a number literal, never a double.</summary>
    internal static decimal PriceAmount(long micro) => decimal.Divide(micro, 1_000_000m);

    private async Task<Result<JsonElement>> CallAsync(HttpMethod method, string path, object? body, CancellationToken cancellationToken, string? bearer = null)
    {
        try
        {
            return await _pipeline.ExecuteAsync(async ct =>
            {
                using var request = new HttpRequestMessage(method, new Uri(_settings.ApiUrl, path));
                request.Headers.TryAddWithoutValidation("x-api-key", _settings.ApiKey ?? "");
                if (bearer is not null)
                {
                    request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
                }
                if (body is not null)
                {
                    request.Content = JsonContent.Create(body);
                }

                using var response = await _httpClients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
                if ((int)response.StatusCode >= 500)
                {
                    throw new ProviderServerError((int)response.StatusCode);
                }

                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    return Result<JsonElement>.Failure(new NowPaymentsFailed("NOWPayments is rate limiting us (429); try again shortly."));
                }

                if (!response.IsSuccessStatusCode)
                {
                    return Result<JsonElement>.Failure(new NowPaymentsFailed(
                        string.Create(CultureInfo.InvariantCulture, $"NOWPayments refused the request ({(int)response.StatusCode}).")) { Status = (int)response.StatusCode });
                }

                try
                {
                    var json = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
                    return json.ValueKind == JsonValueKind.Object
                        ? Result<JsonElement>.Success(json)
                        : Result<JsonElement>.Failure(new NowPaymentsFailed("NOWPayments answered JSON that is not an object."));
                }
                catch (JsonException)
                {
                    return Result<JsonElement>.Failure(new NowPaymentsFailed("NOWPayments answered something that is not JSON."));
                }
            }, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutRejectedException or ProviderServerError or BrokenCircuitException
                                      && !cancellationToken.IsCancellationRequested)
        {
            var reason = e switch
            {
                BrokenCircuitException => "NOWPayments has been failing; calls are paused for a few seconds.",
                TimeoutRejectedException => "NOWPayments did not answer in time.",
                ProviderServerError server => string.Create(CultureInfo.InvariantCulture, $"NOWPayments kept failing ({server.Status})."),
                _ => "NOWPayments could not be reached.",
            };
            LogCallFailed(_logger, path.Split('/')[1], reason);
            return new NowPaymentsFailed(reason);
        }
    }

    private static string? Text(JsonElement json, string name) =>
        json.TryGetProperty(name, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.String when value.GetString() is { Length: > 0 and <= 2000 } s => s,
                JsonValueKind.Number => value.GetRawText(),
                _ => null,
            }
            : null;

    [LoggerMessage(EventId = 9101, Level = LogLevel.Warning, Message = "NOWPayments {Operation} call failed: {Reason}")]
    private static partial void LogCallFailed(ILogger logger, string operation, string reason);

    private sealed class ProviderServerError(int status) : Exception("NOWPayments answered " + status)
    {
        public int Status { get; } = status;
    }
}
