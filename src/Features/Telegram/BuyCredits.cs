using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Linking;
using Freeside.Features.Payments;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Telegram.Bot.Types.ReplyMarkups;

namespace Freeside.Features.Telegram;

/// <summary>/buy_credits: the packs on sale as inline buttons, for the community of the chat's agent.</summary>
public static class BuyCredits
{
    public sealed record Command(TelegramSpeaker Speaker) : IRequest<Result<Replied>>;

    internal sealed class Handler(FreesideDb db, IMediator mediator, TelegramBot bot, PaymentsSettings payments) : IRequestHandler<Command, Result<Replied>>
    {
        public async Task<Result<Replied>> Handle(Command request, CancellationToken cancellationToken)
        {
            var chatId = request.Speaker.ChatId;
            var ready = await CheckoutContext.ResolveAsync(db, mediator, request.Speaker, cancellationToken);
            if (ready.Problem is { } problem)
            {
                await bot.SendTextAsync(chatId, problem, null, cancellationToken);
                return new Replied("not-ready");
            }

            var keyboard = new InlineKeyboardMarkup(payments.Packs.Select(p => new[]
            {
                InlineKeyboardButton.WithCallbackData(
                    $"{p.Id}: ${TelegramText.Usd(p.PriceMicro)} → ${TelegramText.Usd(p.CreditsMicro)} of credits", ChoosePack.DataPrefix + p.Id),
            }));
            await bot.SendTextAsync(chatId, $"Top up {ready.Slug}'s credits (every holder's chats there draw on them). Pick a pack:", keyboard, cancellationToken);
            return new Replied("packs");
        }
    }
}

/// <summary>A pack button pressed: a NOWPayments checkout (Payments' CreatePayment) paid by the linked wallet, and the link to pay.</summary>
public static class ChoosePack
{
    public const string DataPrefix = "buy:";

    public sealed record Command(TelegramSpeaker Speaker, string CallbackQueryId, string PackId) : IRequest<Result<Replied>>;

    internal sealed class Handler(FreesideDb db, IMediator mediator, TelegramBot bot) : IRequestHandler<Command, Result<Replied>>
    {
        public async Task<Result<Replied>> Handle(Command request, CancellationToken cancellationToken)
        {
            var chatId = request.Speaker.ChatId;
            await bot.AnswerCallbackAsync(request.CallbackQueryId, "Creating your checkout…", cancellationToken);
            var ready = await CheckoutContext.ResolveAsync(db, mediator, request.Speaker, cancellationToken);
            if (ready.Problem is { } problem)
            {
                await bot.SendTextAsync(chatId, problem, null, cancellationToken);
                return new Replied("not-ready");
            }

            var payment = await mediator.Send(new CreatePayment.Command(ready.Wallet!.Value, request.PackId, ready.Slug, null), cancellationToken);
            if (!payment.IsSuccess)
            {
                await bot.SendTextAsync(chatId, TelegramText.Problem(payment.Error!), null, cancellationToken);
                return payment.Error!;
            }

            var recorded = await mediator.Send(new RecordCheckout.Command(payment.Value.PaymentId, chatId, request.Speaker.UserId), cancellationToken);
            if (!recorded.IsSuccess)
            {
                return recorded.Error!;
            }

            await bot.SendTextAsync(chatId,
                $"Pay ${payment.Value.PriceUsd} for ${TelegramText.Usd(payment.Value.CreditsMicro)} of {ready.Slug} credits here:\n{payment.Value.InvoiceUrl}\n\n"
                + "I'll tell you here when the credits arrive.", null, cancellationToken);
            return new Replied("checkout");
        }
    }
}

/// <summary>Remembers which chat started a checkout, for the "credits arrived" message.</summary>
public static class RecordCheckout
{
    public sealed record Command(Guid PaymentId, long ChatId, long UserId) : ICommand<bool>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.PaymentId).NotEmpty();
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<bool>>
    {
        public Task<Result<bool>> Handle(Command request, CancellationToken cancellationToken)
        {
            db.Add(new TelegramCheckout { PaymentId = request.PaymentId, ChatId = request.ChatId, UserId = request.UserId, CreatedAt = time.GetUtcNow() });
            return Task.FromResult<Result<bool>>(true);
        }
    }
}

/// <summary>Who pays and for which community: the linked wallet, and the community of the chat's agent.</summary>
internal sealed record CheckoutContext(Common.Ethereum.EthereumAddress? Wallet, string? Slug, string? Problem)
{
    public static async Task<CheckoutContext> ResolveAsync(FreesideDb db, IMediator mediator, TelegramSpeaker speaker, CancellationToken cancellationToken)
    {
        var linked = await mediator.Send(new FindLinkedWallet.Query(LinkPlatform.Telegram, TelegramIds.User(speaker.UserId)), cancellationToken);
        if (!linked.IsSuccess || linked.Value.Wallet is not { } wallet)
        {
            return new CheckoutContext(null, null, "Link your wallet first: /verify");
        }

        var slug = await db.Set<TelegramChat>().AsNoTracking().Where(c => c.ChatId == speaker.ChatId)
            .Select(c => c.CommunitySlug).SingleOrDefaultAsync(cancellationToken);
        return slug is null
            ? new CheckoutContext(wallet, null, "Pick an agent first (its community gets the credits): " + SelectAgent.Usage)
            : new CheckoutContext(wallet, slug, null);
    }
}
