using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Payments;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Telegram;

/// <summary>
/// Payments committed the credits of a payment: if a chat started that checkout, it hears so,
/// once (the notice is claimed in the database before it is sent, so a second publication of the
/// same payment — IPN and reconciliation both — sends nothing).
/// </summary>
internal sealed class CreditsArrived(IMediator mediator, TelegramBot bot) : INotificationHandler<PaymentCredited>
{
    public async Task Handle(PaymentCredited notification, CancellationToken cancellationToken)
    {
        if (!bot.Enabled)
        {
            return;
        }

        var claimed = await mediator.Send(new ClaimCreditNotice.Command(notification.PaymentId), cancellationToken);
        if (claimed is { IsSuccess: true, Value: { } chatId })
        {
            await TelegramText.TrySendAsync(bot, chatId,
                $"✅ Your ${TelegramText.Usd(notification.CreditsMicro)} of credits arrived. Keep talking!", cancellationToken);
        }
    }
}

/// <summary>Marks a checkout's notice as sent and returns its chat; null when there is none or it was already claimed.</summary>
public static class ClaimCreditNotice
{
    public sealed record Command(Guid PaymentId) : ICommand<long?>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.PaymentId).NotEmpty();
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<long?>>
    {
        public async Task<Result<long?>> Handle(Command request, CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow();
            var chats = await db.Database.SqlQuery<long>(
                    $"UPDATE telegram_checkouts SET notified_at = {now} WHERE payment_id = {request.PaymentId} AND notified_at IS NULL RETURNING chat_id AS \"Value\"")
                .ToListAsync(cancellationToken);
            return Result<long?>.Success(chats.Count == 1 ? chats[0] : null);
        }
    }
}
