using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Freeside.Features.Payments.NowPayments;

/// <summary>
/// A NOWPayments stand-in for development (NOWPAYMENTS_ENVIRONMENT=simulator): it creates invoices,
/// answers payment look-ups, and its invoice page delivers IPNs signed with NOWPAYMENTS_IPN_SECRET to
/// the invoice's ipn_callback_url over HTTP — the same path a real IPN takes. State is in memory.
/// </summary>
public sealed class NowPaymentsSimulator(IHttpClientFactory httpClients, PaymentsSettings settings)
{
    public const string BasePath = "/simulator/nowpayments";

    public const string HttpClientName = "nowpayments-simulator";

    private readonly ConcurrentDictionary<string, SimulatedInvoice> _invoices = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _tokens = new();
    private long _nextId = 5_000_000_000 + RandomNumberGenerator.GetInt32(1_000_000);

    public bool Enabled => settings.Simulator;

    public bool KeyMatches(string? presented) => settings.ApiKey is { } key && Same(presented, key);

    /// <summary>POST /v1/auth: a JWT for the configured account (NOWPAYMENTS_EMAIL / NOWPAYMENTS_PASSWORD), valid 5 minutes.</summary>
    public string? SignIn(string? email, string? password)
    {
        if (settings.AccountEmail is not { } expectedEmail || settings.AccountPassword is not { } expectedPassword
            || !Same(email, expectedEmail) || !Same(password, expectedPassword))
        {
            return null;
        }

        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        _tokens[token] = DateTimeOffset.UtcNow.AddMinutes(5);
        return token;
    }

    /// <summary>Whether an Authorization header carries a live token from <see cref="SignIn"/>.</summary>
    public bool BearerMatches(string? authorization) =>
        authorization is { Length: > 7 } header && header.StartsWith("Bearer ", StringComparison.Ordinal)
        && _tokens.TryGetValue(header[7..], out var until) && until > DateTimeOffset.UtcNow;

    private static bool Same(string? presented, string expected) =>
        presented is not null
        && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    public JsonObject? CreateInvoice(JsonElement request, Uri publicBase)
    {
        if (request.ValueKind != JsonValueKind.Object || !request.TryGetProperty("order_id", out var order) || order.ValueKind != JsonValueKind.String
            || !request.TryGetProperty("ipn_callback_url", out var callback) || !Uri.TryCreate(callback.GetString(), UriKind.Absolute, out var callbackUrl)
            || !request.TryGetProperty("price_amount", out var price) || price.ValueKind != JsonValueKind.Number)
        {
            return null;
        }

        var id = Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
        var invoice = new SimulatedInvoice(id, order.GetString()!, price.GetRawText(), callbackUrl);
        _invoices[id] = invoice;
        return new JsonObject
        {
            ["id"] = id,
            ["order_id"] = invoice.OrderId,
            ["price_amount"] = JsonNode.Parse(invoice.PriceAmount),
            ["price_currency"] = "usd",
            ["invoice_url"] = new Uri(publicBase, $"{BasePath}/invoice/{id}").ToString(),
        };
    }

    public SimulatedInvoice? Invoice(string id) => _invoices.GetValueOrDefault(id);

    public JsonObject? PaymentDocument(string paymentId) =>
        _invoices.Values.FirstOrDefault(i => i.PaymentId == paymentId) is { Status: { } } invoice ? Document(invoice, invoice.Status) : null;

    public JsonObject? PaymentOfInvoice(string invoiceId) =>
        _invoices.GetValueOrDefault(invoiceId) is { Status: { } } invoice ? Document(invoice, invoice.Status) : null;

    /// <summary>The statuses one button sends, in NOWPayments' order.</summary>
    public static string[]? Sequence(string action) => action switch
    {
        "pay" => ["waiting", "confirming", "confirmed", "sending", "finished"],
        "partial" => ["waiting", "confirming", "partially_paid"],
        "expire" => ["expired"],
        "fail" => ["waiting", "confirming", "failed"],
        "refund" => ["refunded"],
        _ => null,
    };

    /// <summary>
    /// Sends the action's IPNs to the invoice's callback, optionally each twice and shuffled; returns
    /// what the webhook answered to each.
    /// </summary>
    public async Task<List<string>> DeliverAsync(SimulatedInvoice invoice, string action, bool twice, bool shuffle, CancellationToken cancellationToken)
    {
        var statuses = Sequence(action)!.ToList();
        if (twice)
        {
            statuses = [.. statuses.SelectMany(s => new[] { s, s })];
        }

        if (shuffle)
        {
            statuses = [.. statuses.OrderBy(_ => RandomNumberGenerator.GetInt32(int.MaxValue))];
        }

        invoice.PaymentId ??= Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
        invoice.Status = Sequence(action)![^1];
        var client = httpClients.CreateClient(HttpClientName);
        var answers = new List<string>();
        foreach (var status in statuses)
        {
            var body = Document(invoice, status).ToJsonString();
            using var request = new HttpRequestMessage(HttpMethod.Post, invoice.CallbackUrl) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.TryAddWithoutValidation(IpnVerifier.HeaderName, Sign(body));
            using var response = await client.SendAsync(request, cancellationToken);
            answers.Add(string.Create(CultureInfo.InvariantCulture, $"{status} → {(int)response.StatusCode}"));
        }

        return answers;
    }

    /// <summary>Keys already in order, so the raw and the sorted re-serialisation sign the same.</summary>
    private static JsonObject Document(SimulatedInvoice invoice, string status)
    {
        var paid = status switch
        {
            "partially_paid" => "0.00005",
            "finished" or "refunded" => "0.00010",
            _ => "0",
        };
        return new JsonObject
        {
            ["actually_paid"] = JsonNode.Parse(paid),
            ["invoice_id"] = JsonNode.Parse(invoice.InvoiceId),
            ["order_id"] = invoice.OrderId,
            ["pay_amount"] = JsonNode.Parse("0.00010"),
            ["pay_currency"] = "btc",
            ["payment_id"] = JsonNode.Parse(invoice.PaymentId ?? "0"),
            ["payment_status"] = status,
            ["price_amount"] = JsonNode.Parse(invoice.PriceAmount),
            ["price_currency"] = "usd",
        };
    }

    private string Sign(string body) =>
        Convert.ToHexStringLower(HMACSHA512.HashData(Encoding.UTF8.GetBytes(settings.IpnSecret ?? ""), Encoding.UTF8.GetBytes(body)));

    public static string Page(SimulatedInvoice invoice, IReadOnlyList<string>? delivered)
    {
        var id = WebUtility.HtmlEncode(invoice.InvoiceId);
        var log = delivered is null ? "" : "<h2>Delivered</h2><ul>" + string.Concat(delivered.Select(d => $"<li>{WebUtility.HtmlEncode(d)}</li>")) + "</ul>";
        var buttons = string.Concat(new[] { ("pay", "Pay in full"), ("partial", "Pay partially"), ("expire", "Let it expire"), ("fail", "Fail"), ("refund", "Refund") }
            .Select(b => $"<button name=\"action\" value=\"{b.Item1}\">{b.Item2}</button> "));
        return $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>NOWPayments simulator — invoice {{id}}</title>
            <style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto}button{margin:.25rem;padding:.5rem 1rem}</style></head>
            <body><h1>NOWPayments simulator</h1>
            <p>Invoice <b>{{id}}</b> for order <code>{{WebUtility.HtmlEncode(invoice.OrderId)}}</code>: {{WebUtility.HtmlEncode(invoice.PriceAmount)}} USD.
            Current status: <b>{{WebUtility.HtmlEncode(invoice.Status ?? "no payment yet")}}</b>.</p>
            <form method="post" action="{{BasePath}}/invoice/{{id}}">
            {{buttons}}
            <p><label><input type="checkbox" name="twice" value="true"> deliver every IPN twice</label>
            <label><input type="checkbox" name="shuffle" value="true"> out of order</label></p>
            </form>{{log}}
            <p>Each button sends IPNs signed with NOWPAYMENTS_IPN_SECRET to {{WebUtility.HtmlEncode(invoice.CallbackUrl.ToString())}}.</p>
            </body></html>
            """;
    }
}

public sealed class SimulatedInvoice(string invoiceId, string orderId, string priceAmount, Uri callbackUrl)
{
    public string InvoiceId { get; } = invoiceId;

    public string OrderId { get; } = orderId;

    public string PriceAmount { get; } = priceAmount;

    public Uri CallbackUrl { get; } = callbackUrl;

    public string? PaymentId { get; set; }

    public string? Status { get; set; }
}
