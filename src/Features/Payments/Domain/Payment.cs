namespace Freeside.Features.Payments.Domain;

/// <summary>
/// NOWPayments' statuses, declared in the one order the state machine accepts them: a status moves a
/// payment only when it comes later in this order than where the payment is, so any delivery order of
/// the same statuses ends in the same place. <c>finished</c> outranks <c>expired</c> and <c>failed</c>
/// because it means the money arrived, and money in flight must land; <c>refunded</c> is last.
/// </summary>
public enum PaymentStatus
{
    Waiting = 0,
    Confirming = 1,
    Confirmed = 2,
    Sending = 3,
    PartiallyPaid = 4,
    Expired = 5,
    Failed = 6,
    Finished = 7,
    Refunded = 8,
}

/// <summary>What an IPN did to a payment; the handler acts on it.</summary>
public enum PaymentEffect
{
    /// <summary>Repeated or backward: acknowledged, nothing changes.</summary>
    Ignored,

    /// <summary>The status moved; no credits move.</summary>
    Advanced,

    /// <summary>The status moved to finished: mint the payment's lot once.</summary>
    Mint,

    /// <summary>The status moved to refunded after the lot was minted: take the credits back.</summary>
    TakeBack,
}

/// <summary>What NOWPayments said about the money with a status.</summary>
/// <param name="PaidCryptoAmount">actually_paid as the literal NOWPayments sent (never through a double).</param>
public sealed record ProviderFacts(string? ProviderPaymentId, string? PayCurrency, string? PaidCryptoAmount);

public static class PaymentStatuses
{
    public static string ToWire(this PaymentStatus status) => status switch
    {
        PaymentStatus.Waiting => "waiting",
        PaymentStatus.Confirming => "confirming",
        PaymentStatus.Confirmed => "confirmed",
        PaymentStatus.Sending => "sending",
        PaymentStatus.PartiallyPaid => "partially_paid",
        PaymentStatus.Expired => "expired",
        PaymentStatus.Failed => "failed",
        PaymentStatus.Finished => "finished",
        PaymentStatus.Refunded => "refunded",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    public static PaymentStatus? FromWire(string? wire) => wire switch
    {
        "waiting" => PaymentStatus.Waiting,
        "confirming" => PaymentStatus.Confirming,
        "confirmed" => PaymentStatus.Confirmed,
        "sending" => PaymentStatus.Sending,
        "partially_paid" => PaymentStatus.PartiallyPaid,
        "expired" => PaymentStatus.Expired,
        "failed" => PaymentStatus.Failed,
        "finished" => PaymentStatus.Finished,
        "refunded" => PaymentStatus.Refunded,
        _ => null,
    };

    /// <summary>The seed's user-facing line for each status.</summary>
    public static string Message(this PaymentStatus status) => status switch
    {
        PaymentStatus.Waiting => "Payment pending — waiting for confirmation",
        PaymentStatus.Confirming => "Payment detected — confirming on-chain",
        PaymentStatus.Confirmed or PaymentStatus.Sending => "Payment confirmed — processing",
        PaymentStatus.Finished => "Credits added to your account!",
        PaymentStatus.PartiallyPaid => "Underpaid — send remaining or contact support",
        PaymentStatus.Failed => "Payment failed — please try again",
        PaymentStatus.Expired => "Invoice expired — use /buy-credits for a new one",
        PaymentStatus.Refunded => "Refund processed",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    /// <summary>No IPN moves a payment out of these except to a later status (money that still lands).</summary>
    public static bool IsTerminal(this PaymentStatus status) =>
        status is PaymentStatus.Expired or PaymentStatus.Failed or PaymentStatus.Finished or PaymentStatus.Refunded;
}

/// <summary>
/// One checkout: the pack and its credits fixed when it was created, and where NOWPayments says the
/// money is. The only way to change it is <see cref="Receive"/>, which refuses backward and repeated
/// statuses, so a payment mints at most once whatever order its IPNs come in.
/// </summary>
public sealed class Payment
{
    private Payment()
    {
        OrderId = PackId = Payer = "";
    }

    public Guid Id { get; private set; }

    /// <summary>Our order_id at NOWPayments; IPNs are matched by it first.</summary>
    public string OrderId { get; private set; }

    public Guid AccountId { get; private set; }

    /// <summary>The community topped up, or null for a developer account (then visible only in the platform scope).</summary>
    public Guid? CommunityId { get; private set; }

    /// <summary>The wallet that checked out (stored lowercase 0x-hex).</summary>
    public string Payer { get; private set; }

    public string PackId { get; private set; }

    public long PriceMicro { get; private set; }

    public long CreditsMicro { get; private set; }

    public PaymentStatus Status { get; private set; }

    public string? InvoiceId { get; private set; }

    public string? InvoiceUrl { get; private set; }

    public string? ProviderPaymentId { get; private set; }

    public string? PayCurrency { get; private set; }

    /// <summary>The crypto amount paid, as NOWPayments wrote it (recorded on partially_paid and finished).</summary>
    public string? PaidCryptoAmount { get; private set; }

    public Guid? LotId { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    public DateTimeOffset UpdatedAt { get; private set; }

    public static Payment Start(Guid id, string orderId, Guid accountId, Guid? communityId, string payer, CreditPack pack, DateTimeOffset now) =>
        new()
        {
            Id = id,
            OrderId = orderId,
            AccountId = accountId,
            CommunityId = communityId,
            Payer = payer,
            PackId = pack.Id,
            PriceMicro = pack.PriceMicro,
            CreditsMicro = pack.CreditsMicro,
            Status = PaymentStatus.Waiting,
            CreatedAt = now,
            UpdatedAt = now,
        };

    public void InvoiceCreated(string invoiceId, string invoiceUrl)
    {
        if (InvoiceId is not null && InvoiceId != invoiceId)
        {
            throw new InvalidOperationException($"Payment {Id} already has invoice {InvoiceId}.");
        }

        InvoiceId = invoiceId;
        InvoiceUrl = invoiceUrl;
    }

    /// <summary>Applies a status NOWPayments reported. Backward and repeated statuses change nothing.</summary>
    public PaymentEffect Receive(PaymentStatus incoming, ProviderFacts facts, DateTimeOffset now)
    {
        if (incoming <= Status)
        {
            return PaymentEffect.Ignored;
        }

        var wasFinished = Status == PaymentStatus.Finished;
        Status = incoming;
        UpdatedAt = now;
        ProviderPaymentId ??= facts.ProviderPaymentId;
        if (incoming is PaymentStatus.PartiallyPaid or PaymentStatus.Finished)
        {
            PaidCryptoAmount = facts.PaidCryptoAmount ?? PaidCryptoAmount;
            PayCurrency = facts.PayCurrency ?? PayCurrency;
        }

        return incoming switch
        {
            PaymentStatus.Finished => PaymentEffect.Mint,
            // A refund that arrives before its finished mints nothing, and the finished that follows is backward.
            PaymentStatus.Refunded when wasFinished => PaymentEffect.TakeBack,
            _ => PaymentEffect.Advanced,
        };
    }

    /// <summary>The purchase lot the finished status minted.</summary>
    public void Minted(Guid lotId)
    {
        if (Status != PaymentStatus.Finished)
        {
            throw new InvalidOperationException($"Payment {Id} mints only when finished, not {Status.ToWire()}.");
        }

        LotId = lotId;
    }
}
