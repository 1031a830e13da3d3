using Freeside.Features.Common;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
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
/// (unique per payment by source_ref), repaying the account's debt first; a refund after finished
/// takes the credits back (once per payment, by the same source_ref) and leaves what was spent as debt.
/// All in the caller's transaction, under the conservation guard.
/// </summary>
internal sealed partial class PaymentTransitions(
    FreesideDb db, LedgerStore store, PaymentsMetrics metrics, CommitNotifications notifications, TimeProvider time, ILogger<PaymentTransitions> logger)
{
    public const string LotSource = "purchase";

    public static string LotSourceRef(Guid paymentId) => $"nowpayments:{paymentId:N}";

    /// <summary>
    /// The payment, locked for the rest of the transaction (in the platform scope), waiting for whoever holds
    /// it. FOR NO KEY UPDATE, not FOR UPDATE: it serializes the payment's updaters just the same and blocks
    /// nothing that only references the payment.
    /// </summary>
    public async Task<Payment?> FindLockedAsync(Guid paymentId, CancellationToken cancellationToken)
    {
        await db.EnterPlatformScopeAsync(cancellationToken);
        return await db.Set<Payment>().FromSql($"SELECT * FROM payments WHERE id = {paymentId} FOR NO KEY UPDATE").SingleOrDefaultAsync(cancellationToken);
    }

    /// <summary>As <see cref="FindLockedAsync(Guid, CancellationToken)"/>, but null at once when another transaction holds it (or it does not exist).</summary>
    public async Task<Payment?> TryLockAsync(Guid paymentId, CancellationToken cancellationToken)
    {
        await db.EnterPlatformScopeAsync(cancellationToken);
        return await db.Set<Payment>().FromSql($"SELECT * FROM payments WHERE id = {paymentId} FOR NO KEY UPDATE SKIP LOCKED").SingleOrDefaultAsync(cancellationToken);
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
                await TakeBackAsync(payment, cancellationToken);
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
        var (minted, _) = await store.MintAsync(lot, LotSource, LotSourceRef(payment.Id), cancellationToken, repaysDebt: true);
        await store.SaveAsync(cancellationToken);
        payment.Minted(minted.Id);
        metrics.Minted(payment.CreditsMicro);
        notifications.Add(new PaymentCredited(payment.Id, EthereumAddress.FromBytes(Convert.FromHexString(payment.Payer.AsSpan(2))),
            payment.CommunityId, payment.CommunityId is null, payment.CreditsMicro));
    }

    private async Task TakeBackAsync(Payment payment, CancellationToken cancellationToken)
    {
        if (payment.CommunityId is { } community)
        {
            await db.EnterCommunityAsync(community, cancellationToken);
        }

        var outcome = await store.ClawBackAsync(payment.AccountId, payment.LotId, LotSourceRef(payment.Id), Money.FromMicro(payment.CreditsMicro),
            cancellationToken);
        if (outcome is not null)
        {
            metrics.TakenBack(outcome.Taken.Micro, outcome.Debt.Micro);
            LogTakenBack(logger, payment.Id, outcome.Taken.Micro, outcome.Debt.Micro);
        }
    }

    [LoggerMessage(EventId = 9106, Level = LogLevel.Warning,
        Message = "Payment {PaymentId} was refunded after it finished: {TakenMicro} micro-USD taken back, {DebtMicro} micro-USD recorded as debt")]
    private static partial void LogTakenBack(ILogger logger, Guid paymentId, long takenMicro, long debtMicro);
}
