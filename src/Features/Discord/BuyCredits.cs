using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Discord.Client;
using Freeside.Features.Linking;
using Freeside.Features.Payments;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Discord;

/// <summary>/buy-credits amount: 5|10|25 — an ephemeral checkout link topping up this server's community, and a DM when the credits arrive.</summary>
public static class BuyCredits
{
    public static readonly int[] Amounts = [5, 10, 25];

    public sealed record Command(InteractionContext Context, string Amount) : IDiscordCommand;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Amount).Must(a => int.TryParse(a, out var usd) && Amounts.Contains(usd)).WithMessage("amount must be 5, 10 or 25 (US dollars).");
        }
    }

    internal sealed class Handler(FreesideDb db, IMediator mediator, PaymentsSettings payments) : IRequestHandler<Command, Result<DiscordReply>>
    {
        public async Task<Result<DiscordReply>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (await GuildCommunity.SlugAsync(db, request.Context, cancellationToken) is not { } slug)
            {
                return GuildCommunity.NotConnected;
            }

            var priceMicro = int.Parse(request.Amount, System.Globalization.CultureInfo.InvariantCulture) * 1_000_000L;
            if (payments.Packs.FirstOrDefault(p => p.PriceMicro == priceMicro) is not { } pack)
            {
                return new DiscordReply($"There is no ${request.Amount} credit pack on sale right now.");
            }

            var linked = await mediator.Send(new FindLinkedWallet.Query(LinkPlatform.Discord, request.Context.UserId), cancellationToken);
            if (!linked.IsSuccess)
            {
                return linked.Error!;
            }

            if (linked.Value.Wallet is not { } wallet)
            {
                return new DiscordReply("Link your wallet first with /verify; the payment is made from it.");
            }

            var payment = await mediator.Send(new CreatePayment.Command(wallet, pack.Id, slug, null), cancellationToken);
            if (!payment.IsSuccess)
            {
                return payment.Error!;
            }

            var recorded = await mediator.Send(new RecordCheckout.Command(payment.Value.PaymentId, request.Context.UserId, slug), cancellationToken);
            if (!recorded.IsSuccess)
            {
                return recorded.Error!;
            }

            var credits = (payment.Value.CreditsMicro / 10_000 / 100m).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
            return new DiscordReply($"Pay ${request.Amount} here for ${credits} of credits for this community: {payment.Value.InvoiceUrl}\nI will send you a DM when they arrive.");
        }
    }
}

public static class RecordCheckout
{
    public sealed record Command(Guid PaymentId, string UserId, string Slug) : ICommand<bool>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.UserId).Must(ConnectGuild.IsSnowflake);
            RuleFor(c => c.Slug).NotEmpty().MaximumLength(63);
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<bool>>
    {
        public Task<Result<bool>> Handle(Command request, CancellationToken cancellationToken)
        {
            db.Set<DiscordCheckout>().Add(new DiscordCheckout
            {
                PaymentId = request.PaymentId, UserId = request.UserId, CommunitySlug = request.Slug, CreatedAt = time.GetUtcNow(),
            });
            return Task.FromResult(Result<bool>.Success(true));
        }
    }
}

/// <summary>Credits of a checkout started in Discord arrived: open a DM with the buyer (the message follows once Discord names the channel).</summary>
public static class NotifyCredited
{
    public sealed record Command(Guid PaymentId) : ICommand<bool>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.PaymentId).NotEmpty();
        }
    }

    public static string Origin(Guid paymentId) => "dm:" + paymentId.ToString("N");

    internal sealed class Handler(FreesideDb db, DiscordWriteSignal signal, TimeProvider time) : IRequestHandler<Command, Result<bool>>
    {
        public async Task<Result<bool>> Handle(Command request, CancellationToken cancellationToken)
        {
            var checkout = await db.Set<DiscordCheckout>().SingleOrDefaultAsync(c => c.PaymentId == request.PaymentId, cancellationToken);
            if (checkout is null || checkout.NotifiedAt is not null)
            {
                return false;
            }

            checkout.NotifiedAt = time.GetUtcNow();
            db.Set<DiscordWrite>().Add(DiscordWrite.Create(Origin(request.PaymentId), HttpMethod.Post, "users/@me/channels",
                new { recipient_id = checkout.UserId }, time.GetUtcNow(), "dm-open:" + request.PaymentId.ToString("N")));
            signal.Notify();
            return true;
        }
    }

    internal sealed class OnCredited(IMediator mediator) : INotificationHandler<PaymentCredited>
    {
        public Task Handle(PaymentCredited notification, CancellationToken cancellationToken) =>
            mediator.Send(new Command(notification.PaymentId), cancellationToken);
    }

    internal sealed class OnDmOpened(FreesideDb db, IMediator mediator, TimeProvider time) : INotificationHandler<DiscordWriteSent>
    {
        public async Task Handle(DiscordWriteSent notification, CancellationToken cancellationToken)
        {
            if (notification.DedupeKey is not { } key || !key.StartsWith("dm-open:", StringComparison.Ordinal)
                || !Guid.TryParseExact(key["dm-open:".Length..], "N", out var paymentId))
            {
                return;
            }

            var channel = System.Text.Json.JsonSerializer.Deserialize<DiscordChannel>(notification.Response, DiscordJson.Options);
            var slug = await db.Set<DiscordCheckout>().AsNoTracking().Where(c => c.PaymentId == paymentId).Select(c => c.CommunitySlug).SingleOrDefaultAsync(cancellationToken);
            if (channel?.Id is not { } dm || !ConnectGuild.IsSnowflake(dm) || slug is null)
            {
                return;
            }

            await mediator.Send(new QueueWrites.Command([DiscordWrite.Create(Origin(paymentId), HttpMethod.Post, $"channels/{dm}/messages",
                new MessagePayload($"The credits you bought for {slug} have arrived. Thank you!"), time.GetUtcNow(), "dm-message:" + paymentId.ToString("N"))]),
                cancellationToken);
        }
    }
}
