using Freeside.Features.Common;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Ledger;
using Freeside.Features.Ledger.Domain;
using Freeside.Features.Payments.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Payments;

/// <summary>
/// The one place a reported status reaches a payment, for IPNs and reconciliation alike: the payment
/// row is locked, <see cref="Payment.Receive"/> decides, and a finished payment mints its purchase lot
/// (unique per payment by source_ref) in the caller's transaction, under the conservation guard.
/// </summary>
internal sealed partial class PaymentTransitions(FreesideDb db, LedgerStore store, PaymentsMetrics metrics, TimeProvider time, ILogger<PaymentTransitions> logger)
{
    public const string LotSource = "purchase";

    public static string LotSourceRef(Guid paymentId) => $"nowpayments:{paymentId:N}";

    /// <summary>The payment by order_id, else by invoice_id, locked for the rest of the transaction (platform scope).</summary>
    public async Task<Payment?> FindLockedAsync(string? orderId, string? invoiceId, CancellationToken cancellationToken)
    {
        await db.EnterPlatformScopeAsync(cancellationToken);
        if (orderId is not null)
        {
            var byOrder = await db.Set<Payment>().FromSql($"SELECT * FROM payments WHERE order_id = {orderId} FOR UPDATE").SingleOrDefaultAsync(cancellationToken);
            if (byOrder is not null)
            {
                return byOrder;
            }
        }

        return invoiceId is null
            ? null
            : await db.Set<Payment>().FromSql($"SELECT * FROM payments WHERE invoice_id = {invoiceId} FOR UPDATE").SingleOrDefaultAsync(cancellationToken);
    }

    public async Task<Payment?> FindLockedAsync(Guid paymentId, CancellationToken cancellationToken)
    {
        await db.EnterPlatformScopeAsync(cancellationToken);
        return await db.Set<Payment>().FromSql($"SELECT * FROM payments WHERE id = {paymentId} FOR UPDATE").SingleOrDefaultAsync(cancellationToken);
    }

    public async Task<PaymentEffect> ApplyAsync(Payment payment, PaymentStatus status, ProviderFacts facts, CancellationToken cancellationToken)
    {
        var effect = payment.Receive(status, facts, time.GetUtcNow());
        switch (effect)
        {
            case PaymentEffect.Mint:
                await MintAsync(payment, cancellationToken);
                break;
            case PaymentEffect.TakeBack:
                // Taking credits back (and recording a debt for what was already spent) needs ledger
                // support that does not exist yet; until it does, an operator must see every such refund.
                metrics.RefundNotTakenBack();
                LogRefundNotTakenBack(logger, payment.Id, payment.CreditsMicro);
                break;
        }

        return effect;
    }

    private async Task MintAsync(Payment payment, CancellationToken cancellationToken)
    {
        if (payment.CommunityId is { } community)
        {
            await db.EnterCommunityAsync(community, cancellationToken);
        }

        var lot = Lot.Mint(Guid.CreateVersion7(), payment.AccountId, payment.CommunityId, Money.FromMicro(payment.CreditsMicro), null, store.Now,
            $"credit pack {payment.PackId}");
        var (minted, _) = await store.MintAsync(lot, LotSource, LotSourceRef(payment.Id), cancellationToken);
        await store.SaveAsync(cancellationToken);
        payment.Minted(minted.Id);
        metrics.Minted(payment.CreditsMicro);
    }

    [LoggerMessage(EventId = 9103, Level = LogLevel.Error,
        Message = "Payment {PaymentId} was refunded after it finished; its {CreditsMicro} micro-USD were NOT taken back (not implemented yet)")]
    private static partial void LogRefundNotTakenBack(ILogger logger, Guid paymentId, long creditsMicro);
}
