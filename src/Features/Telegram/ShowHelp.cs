using Freeside.Features.Common.Errors;
using Freeside.Features.Linking;
using MediatR;

namespace Freeside.Features.Telegram;

/// <summary>/start and /help: what the bot does, and the next step for this user.</summary>
public static class ShowHelp
{
    public sealed record Command(TelegramSpeaker Speaker, bool Welcome) : IRequest<Result<Replied>>;

    public const string Commands = """
        /verify — link your wallet (sign one message in your browser)
        /agent <community> <token id> — talk to the agent of an NFT you hold
        /buy_credits — top up the community's credits
        /balance — credits left, and what you spent today
        /help — this list
        Anything else you write goes to your agent.
        """;

    internal sealed class Handler(IMediator mediator, TelegramBot bot) : IRequestHandler<Command, Result<Replied>>
    {
        public async Task<Result<Replied>> Handle(Command request, CancellationToken cancellationToken)
        {
            var linked = await mediator.Send(new FindLinkedWallet.Query(LinkPlatform.Telegram, TelegramIds.User(request.Speaker.UserId)), cancellationToken);
            var wallet = linked.IsSuccess ? linked.Value.Wallet : null;
            var next = wallet is null
                ? "Start with /verify to link your wallet."
                : $"Your wallet {wallet.Value.ToChecksumString()} is linked. Pick an agent with /agent <community> <token id>.";
            var text = request.Welcome
                ? $"Welcome to Freeside: talk to the AI agent of an NFT you hold.\n\n{next}\n\n{Commands}"
                : $"{Commands}\n\n{next}";
            await bot.SendTextAsync(request.Speaker.ChatId, text, null, cancellationToken);
            return new Replied(request.Welcome ? "start" : "help");
        }
    }
}

internal static class TelegramIds
{
    /// <summary>The external user id Linking stores for a Telegram user.</summary>
    public static string User(long userId) => userId.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
