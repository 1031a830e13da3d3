using System.Security.Cryptography;
using System.Text;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Identity.Roles;
using Freeside.Features.Ledger;
using Freeside.Features.Payments.Domain;
using Freeside.Features.Payments.NowPayments;
using MediatR;

namespace Freeside.Features.Payments;

/// <summary>
/// Checkout: any signed-in wallet tops up a community, or its own developer account. The pack and
/// its credits are fixed here and stored with the payment. NOWPayments is asked for the invoice
/// before anything is written, so no lock is held while it answers and a refused invoice leaves
/// nothing behind.
/// </summary>
public static class CreatePayment
{
    public sealed record Command(EthereumAddress Payer, string? PackId, string? Community, bool? Developer) : ICommand<PaymentView>;

    public sealed record PaymentView(Guid PaymentId, string OrderId, string? InvoiceId, string? InvoiceUrl, string Status, string Message, string PackId,
        string PriceUsd, long PriceMicro, long CreditsMicro, string? Community, bool Developer, string? PaidCryptoAmount, string? PayCurrency,
        DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator(PaymentsSettings settings)
        {
            RuleFor(c => c.PackId).NotEmpty().Must(id => settings.Pack(id!) is not null)
                .WithMessage(c => $"pack_id '{c.PackId}' is not one of: {string.Join(", ", settings.Packs.Select(p => p.Id))}.");
            RuleFor(c => c.Community).MaximumLength(63);
            RuleFor(c => c).Must(c => (c.Community is { Length: > 0 }) != (c.Developer == true))
                .WithName("community").WithMessage("Name exactly one of community (a slug) or developer: true.");
        }
    }

    /// <summary>
    /// A wallet's developer account id, until developers have a table of their own: a stable
    /// name-based id from the address, so the same wallet always tops up the same account.
    /// </summary>
    public static Guid DeveloperId(EthereumAddress wallet)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("freeside-developer:" + CommunityAdmins.Stored(wallet)));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }

    internal sealed class Handler(FreesideDb db, LedgerStore store, NowPaymentsClient nowPayments, PaymentsSettings settings, PaymentLinks links, TimeProvider time)
        : IRequestHandler<Command, Result<PaymentView>>
    {
        public async Task<Result<PaymentView>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (!settings.CheckoutAvailable)
            {
                return new PaymentsDisabled(settings.CheckoutEnabled
                    ? "Crypto payments are not configured here (NOWPAYMENTS_API_KEY is not set)."
                    : "Crypto payments are disabled (FEATURE_CRYPTO_PAYMENTS_ENABLED=false); payments already made still land.");
            }

            var pack = settings.Pack(request.PackId!)!;
            Guid? communityId = null;
            if (request.Community is { Length: > 0 } slug)
            {
                var found = await db.CommunityBySlugAsync(slug, cancellationToken);
                if (found.Error is { } notFound)
                {
                    return notFound;
                }

                communityId = found.Value.Id;
            }

            var id = Guid.CreateVersion7();
            var orderId = "fs-" + id.ToString("N");
            var invoice = await nowPayments.CreateInvoiceAsync(orderId, pack.PriceMicro, $"Freeside credits: {pack.Id}", links.IpnCallbackUrl, null, cancellationToken);
            if (invoice.Error is { } failed)
            {
                return failed;
            }

            var accountId = await store.OpenAccountAsync(communityId, communityId is null ? DeveloperId(request.Payer) : null, cancellationToken);
            var payment = Payment.Start(id, orderId, accountId, communityId, CommunityAdmins.Stored(request.Payer), pack, time.GetUtcNow());
            payment.InvoiceCreated(invoice.Value.InvoiceId, invoice.Value.InvoiceUrl);
            db.Add(payment);
            return View(payment, request.Community);
        }
    }

    internal static PaymentView View(Payment p, string? community) =>
        new(p.Id, p.OrderId, p.InvoiceId, p.InvoiceUrl, p.Status.ToWire(), p.Status.Message(), p.PackId, ListCreditPacks.Usd(p.PriceMicro), p.PriceMicro,
            p.CreditsMicro, community, p.CommunityId is null, p.PaidCryptoAmount, p.PayCurrency, p.CreatedAt, p.UpdatedAt);
}
