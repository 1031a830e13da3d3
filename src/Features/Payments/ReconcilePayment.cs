using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Payments.Domain;
using Freeside.Features.Payments.NowPayments;
using MediatR;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Payments;

/// <summary>
/// Asks NOWPayments where one payment stands and applies the answer through the same state machine
/// as an IPN (so a lost finished IPN still mints exactly once). Sent by the reconciliation job and by
/// a platform admin; every run is written to the log with who asked.
/// </summary>
public static partial class ReconcilePayment
{
    public sealed record Command(Guid PaymentId, string Actor) : ICommand<ReconcileView>, IMovesCredits;

    /// <param name="Result">applied, unchanged, not-paid-yet (NOWPayments knows no payment for the invoice).</param>
    public sealed record ReconcileView(Guid PaymentId, string Result, string StatusBefore, string Status, string? ProviderStatus);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.PaymentId).NotEmpty();
            RuleFor(c => c.Actor).NotEmpty().MaximumLength(100);
        }
    }

    internal sealed class Handler(PaymentTransitions transitions, NowPaymentsClient nowPayments, PaymentsMetrics metrics, ILogger<Handler> logger)
        : IRequestHandler<Command, Result<ReconcileView>>
    {
        public async Task<Result<ReconcileView>> Handle(Command request, CancellationToken cancellationToken)
        {
            // Locked first: an IPN arriving meanwhile is stored and answered as usual; the applier skips this payment
            // while it is held and applies that IPN afterwards, against what this applied.
            var payment = await transitions.FindLockedAsync(request.PaymentId, cancellationToken);
            if (payment is null)
            {
                return new NotFound("payment", request.PaymentId.ToString());
            }

            var before = payment.Status;
            var found = await AskAsync(payment, cancellationToken);
            if (found.Error is { } failed)
            {
                metrics.Reconciled("provider-failed");
                return failed;
            }

            var outcome = "not-paid-yet";
            if (found.Value is { } remote && PaymentStatuses.FromWire(remote.Status) is { } status)
            {
                var effect = await transitions.ApplyAsync(payment, status, new ProviderFacts(remote.PaymentId, remote.PayCurrency, remote.ActuallyPaid), cancellationToken);
                outcome = effect == PaymentEffect.Ignored ? "unchanged" : "applied";
            }

            metrics.Reconciled(outcome);
            LogReconciled(logger, payment.Id, request.Actor, before.ToWire(), payment.Status.ToWire(), found.Value?.Status ?? "(none)");
            return new ReconcileView(payment.Id, outcome, before.ToWire(), payment.Status.ToWire(), found.Value?.Status);
        }

        /// <summary>By NOWPayments' payment id when an IPN told us it, else by our invoice.</summary>
        private async Task<Result<NowPaymentsPayment?>> AskAsync(Payment payment, CancellationToken cancellationToken)
        {
            if (payment.ProviderPaymentId is { } providerId)
            {
                var byId = await nowPayments.GetPaymentAsync(providerId, cancellationToken);
                return byId.IsSuccess ? byId.Value : byId.Error!;
            }

            return payment.InvoiceId is { } invoiceId
                ? await nowPayments.FindPaymentByInvoiceAsync(invoiceId, cancellationToken)
                : Result<NowPaymentsPayment?>.Success(null);
        }
    }

    [LoggerMessage(EventId = 9104, Level = LogLevel.Information,
        Message = "payment_reconciled {PaymentId} by {Actor}: {StatusBefore} -> {Status} (NOWPayments says {ProviderStatus})")]
    private static partial void LogReconciled(ILogger logger, Guid paymentId, string actor, string statusBefore, string status, string providerStatus);
}
