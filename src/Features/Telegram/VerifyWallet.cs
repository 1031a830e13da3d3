using Freeside.Features.Common.Errors;
using Freeside.Features.Linking;
using MediatR;

namespace Freeside.Features.Telegram;

/// <summary>/verify: a single-use link (Linking) where the user signs in with the wallet to link to this Telegram account.</summary>
public static class VerifyWallet
{
    public sealed record Command(TelegramSpeaker Speaker) : IRequest<Result<Replied>>;

    internal sealed class Handler(IMediator mediator, TelegramBot bot) : IRequestHandler<Command, Result<Replied>>
    {
        public async Task<Result<Replied>> Handle(Command request, CancellationToken cancellationToken)
        {
            var started = await mediator.Send(new StartLink.Command(LinkPlatform.Telegram, TelegramIds.User(request.Speaker.UserId), request.Speaker.DisplayName),
                cancellationToken);
            if (!started.IsSuccess)
            {
                await bot.SendTextAsync(request.Speaker.ChatId, TelegramText.Problem(started.Error!), null, cancellationToken);
                return started.Error!;
            }

            await bot.SendTextAsync(request.Speaker.ChatId,
                $"Open this link and sign the message with your wallet to link it to this Telegram account:\n{started.Value.Url}\n\n"
                + $"It works once and until {started.Value.ExpiresAt:yyyy-MM-dd HH:mm} UTC.", null, cancellationToken);
            return new Replied("verify");
        }
    }
}

/// <summary>Tells the user in their private chat that the link completed.</summary>
internal sealed class WalletLinkedHandler(TelegramBot bot) : INotificationHandler<WalletLinked>
{
    public async Task Handle(WalletLinked notification, CancellationToken cancellationToken)
    {
        if (notification.Platform != LinkPlatform.Telegram || !bot.Enabled
            || !long.TryParse(notification.ExternalUserId, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var userId))
        {
            return;
        }

        await TelegramText.TrySendAsync(bot, userId,
            $"Wallet {notification.Wallet.ToChecksumString()} is linked. Pick an agent with /agent <community> <token id>.", cancellationToken);
    }
}
