using System.Text;
using System.Text.Json;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Payments.Domain;
using MediatR;
using Npgsql;

namespace Freeside.Features.Payments;

/// <summary>
/// A NOWPayments IPN: verified, matched to our payment by order_id then invoice_id (a plain read, no
/// lock), stored once per (payment, status) in <c>webhook_events</c> and answered as soon as that
/// commits. A matched IPN is stored pending; <see cref="PaymentEventApplier"/> applies it through the
/// state machine in its own transaction (<see cref="ApplyPaymentEvents"/>). The answer therefore never
/// waits for a payment's row lock or a mint, and nothing is lost: the event is durable before the 200.
/// A replay hits the unique key and answers at once as a duplicate.
/// </summary>
public static class ReceiveIpn
{
    public const int MaxBodyBytes = 64 * 1024;

    /// <summary>Not an <c>ICommand</c>: its one write needs no BEGIN … COMMIT around it (see <see cref="Handler"/>).</summary>
    public sealed record Command(byte[] Body, string? Signature) : IRequest<Result<Outcome>>;

    /// <param name="Result">
    /// stored (pending; applied in order shortly after), duplicate (this status was stored before), unmatched (no such
    /// payment), ignored (a status the state machine does not know).
    /// </param>
    /// <param name="Status">The status this IPN reported.</param>
    public sealed record Outcome(string Result, Guid? PaymentId, string? Status);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Body).NotNull().Must(b => b.Length <= MaxBodyBytes).WithMessage($"An IPN body is at most {MaxBodyBytes} bytes.");
    }

    public static string LotSourceRef(Guid paymentId) => PaymentTransitions.LotSourceRef(paymentId);

    internal sealed class Handler(NpgsqlDataSource database, IpnVerifier verifier, PaymentsMetrics metrics, PaymentEventSignal signal, TimeProvider time)
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
            var known = ipn.Status is not null;
            var now = time.GetUtcNow();
            var stored = await StoreAsync(ipn, request.Body, known, now, cancellationToken);
            if (stored is null)
            {
                metrics.Ipn("duplicate");
                return new Outcome("duplicate", null, ipn.StatusText);
            }

            if (stored.PaymentId is not { } paymentId)
            {
                metrics.Ipn("unmatched");
                return new Outcome("unmatched", null, ipn.StatusText);
            }

            if (!known)
            {
                metrics.Ipn("ignored");
                return new Outcome("ignored", paymentId, ipn.StatusText);
            }

            metrics.Ipn("stored");
            signal.Notify();
            return new Outcome("stored", paymentId, ipn.StatusText);
        }

        /// <summary>
        /// Matches, stores and says whether it was new in one round trip: the platform scope and the insert travel as
        /// one command, which PostgreSQL runs as one implicit transaction, committed (durably) before the answer
        /// is read. Null for a duplicate, else the matched payment or none.
        /// The payment is only read, never locked (webhook_events has no foreign key to it, see M0023), so no lock
        /// anyone holds on it delays the answer. An event that needs nothing — no such payment, or a status we do
        /// not know — is stored already settled.
        /// </summary>
        private async Task<Stored?> StoreAsync(Ipn ipn, byte[] body, bool known, DateTimeOffset now, CancellationToken cancellationToken)
        {
            await using var connection = await database.OpenConnectionAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = $"""
                SELECT {TenantScope.Set("@scope")};
                WITH matched AS (
                    SELECT coalesce((SELECT id FROM payments WHERE order_id = @order),
                                    (SELECT id FROM payments WHERE invoice_id = @invoice)) AS payment_id)
                INSERT INTO webhook_events (id, provider, provider_payment_id, status, order_id, invoice_id, payment_id, body, received_at, applied_at, outcome)
                SELECT @id, 'nowpayments', @provider_payment, @status, @order, @invoice, m.payment_id, @body, @now,
                       CASE WHEN m.payment_id IS NULL OR NOT @known THEN @now END,
                       CASE WHEN m.payment_id IS NULL THEN 'unmatched' WHEN NOT @known THEN 'ignored' END
                FROM matched m
                ON CONFLICT (provider, provider_payment_id, status) DO NOTHING
                RETURNING payment_id
                """;
            command.Parameters.Add(new NpgsqlParameter("scope", TenantScope.Platform));
            command.Parameters.Add(new NpgsqlParameter("id", Guid.CreateVersion7()));
            command.Parameters.Add(new NpgsqlParameter("provider_payment", ipn.ProviderPaymentId));
            command.Parameters.Add(new NpgsqlParameter("status", ipn.StatusText));
            command.Parameters.Add(new NpgsqlParameter("order", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)ipn.OrderId ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("invoice", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)ipn.InvoiceId ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("body", Encoding.UTF8.GetString(body)));
            command.Parameters.Add(new NpgsqlParameter("now", now));
            command.Parameters.Add(new NpgsqlParameter("known", known));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken) ? new Stored(reader.IsDBNull(0) ? null : reader.GetGuid(0)) : null;
        }
    }

    private sealed record Stored(Guid? PaymentId);

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
