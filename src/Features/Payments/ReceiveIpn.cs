using System.Text;
using System.Text.Json;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Payments.Domain;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Payments;

/// <summary>
/// A NOWPayments IPN: verified, stored once per (payment, status), matched to our payment by order_id
/// then invoice_id, and applied through <see cref="Payment.Receive"/>. <c>finished</c> mints the
/// payment's purchase lot in the same transaction; the lot's (source, source_ref) is unique per
/// payment, and the payment row is locked, so concurrent replays queue and then see it finished.
/// </summary>
public static class ReceiveIpn
{
    public const int MaxBodyBytes = 64 * 1024;

    public sealed record Command(byte[] Body, string? Signature) : ICommand<Outcome>, IMovesCredits;

    /// <param name="Result">applied, ignored (backward or repeated), duplicate (this status was stored before), unmatched (no such payment).</param>
    public sealed record Outcome(string Result, Guid? PaymentId, string? Status);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Body).NotNull().Must(b => b.Length <= MaxBodyBytes).WithMessage($"An IPN body is at most {MaxBodyBytes} bytes.");
    }

    public static string LotSourceRef(Guid paymentId) => PaymentTransitions.LotSourceRef(paymentId);

    internal sealed class Handler(FreesideDb db, PaymentTransitions transitions, IpnVerifier verifier, PaymentsMetrics metrics, TimeProvider time)
        : IRequestHandler<Command, Result<Outcome>>
    {
        public async Task<Result<Outcome>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (!verifier.Verify(request.Body, request.Signature))
            {
                return new IpnSignatureInvalid();
            }

            var parsed = Parse(request.Body);
            if (parsed.Error is { } malformed)
            {
                return malformed;
            }

            var ipn = parsed.Value;
            await db.EnterPlatformScopeAsync(cancellationToken);
            var payment = await transitions.FindLockedAsync(ipn.OrderId, ipn.InvoiceId, cancellationToken);
            var eventId = Guid.CreateVersion7();
            var stored = await db.Database.ExecuteSqlAsync($"""
                INSERT INTO webhook_events (id, provider, provider_payment_id, status, order_id, invoice_id, payment_id, body, received_at)
                VALUES ({eventId}, 'nowpayments', {ipn.ProviderPaymentId}, {ipn.StatusText}, {ipn.OrderId}, {ipn.InvoiceId}, {payment?.Id}, {Encoding.UTF8.GetString(request.Body)}, {time.GetUtcNow()})
                ON CONFLICT (provider, provider_payment_id, status) DO NOTHING
                """, cancellationToken);
            if (stored == 0)
            {
                metrics.Ipn("duplicate");
                return new Outcome("duplicate", payment?.Id, payment?.Status.ToWire());
            }

            if (payment is null)
            {
                metrics.Ipn("unmatched");
                return new Outcome("unmatched", null, null);
            }

            if (ipn.Status is not { } status)
            {
                metrics.Ipn("ignored");
                return new Outcome("ignored", payment.Id, payment.Status.ToWire());
            }

            var effect = await transitions.ApplyAsync(payment, status, new ProviderFacts(ipn.ProviderPaymentId, ipn.PayCurrency, ipn.ActuallyPaid), cancellationToken);

            metrics.Ipn(effect == PaymentEffect.Ignored ? "ignored" : "applied");
            return new Outcome(effect == PaymentEffect.Ignored ? "ignored" : "applied", payment.Id, payment.Status.ToWire());
        }
    }

    internal sealed record Ipn(string ProviderPaymentId, string StatusText, PaymentStatus? Status, string? OrderId, string? InvoiceId, string? PayCurrency, string? ActuallyPaid);

    internal static Result<Ipn> Parse(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return new IpnMalformed("The body must be a JSON object.");
            }

            var paymentId = Scalar(root, "payment_id");
            var status = Scalar(root, "payment_status");
            if (paymentId is null or { Length: > 100 })
            {
                return new IpnMalformed("payment_id is required (a number or string of at most 100 characters).");
            }

            if (status is null or { Length: > 40 })
            {
                return new IpnMalformed("payment_status is required (at most 40 characters).");
            }

            return new Ipn(paymentId, status, PaymentStatuses.FromWire(status), Limit(Scalar(root, "order_id")), Limit(Scalar(root, "invoice_id")),
                Limit(Scalar(root, "pay_currency"), 40), Limit(Scalar(root, "actually_paid")));
        }
        catch (JsonException)
        {
            return new IpnMalformed("The body is not JSON.");
        }
    }

    private static string? Limit(string? value, int max = 100) => value is null || value.Length > max || value.Length == 0 ? null : value;

    /// <summary>A string's value or a number's literal (NOWPayments sends ids as numbers); anything else is absent.</summary>
    private static string? Scalar(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Number => value.GetRawText(),
                _ => null,
            }
            : null;
}
