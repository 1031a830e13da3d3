using Freeside.Features.Common.Errors;
using MediatR;
using Telegram.Bot.Types;

namespace Freeside.Features.Telegram;

/// <summary>A chat the bot talks in, and who spoke: every command request carries this.</summary>
public sealed record TelegramSpeaker(long ChatId, long UserId, string? DisplayName);

/// <summary>
/// Routes one accepted update to its request: a /command to that command's request, other text to
/// the agent (<see cref="AskAgent"/>), a button press to <see cref="ChoosePack"/>. Each is sent
/// through the pipeline on its own, so metrics and validation see the command, not just "an update".
/// </summary>
public static class HandleUpdate
{
    public sealed record Command(Update Update) : IRequest<Result<Handled>>;

    public sealed record Handled(string Route);

    internal sealed class Handler(IMediator mediator, TelegramBot bot) : IRequestHandler<Command, Result<Handled>>
    {
        public async Task<Result<Handled>> Handle(Command request, CancellationToken cancellationToken)
        {
            var update = request.Update;
            if (update.CallbackQuery is { From: { } presser, Data: { } data } callback)
            {
                var speaker = new TelegramSpeaker(callback.Message?.Chat.Id ?? presser.Id, presser.Id, Name(presser));
                if (data.StartsWith(ChoosePack.DataPrefix, StringComparison.Ordinal))
                {
                    return await RouteAsync("choose_pack", mediator.Send(new ChoosePack.Command(speaker, callback.Id, data[ChoosePack.DataPrefix.Length..]), cancellationToken));
                }

                await bot.AnswerCallbackAsync(callback.Id, null, cancellationToken);
                return new Handled("ignored");
            }

            if (update.Message is not { From: { IsBot: false } from, Text: { Length: > 0 } text } message)
            {
                return new Handled("ignored");
            }

            var who = new TelegramSpeaker(message.Chat.Id, from.Id, Name(from));
            if (!text.StartsWith('/'))
            {
                return await RouteAsync("agent_message", mediator.Send(new AskAgent.Command(who, text), cancellationToken));
            }

            var space = text.IndexOfAny([' ', '\n']);
            var command = (space < 0 ? text : text[..space]).Split('@')[0].ToLowerInvariant();
            var arguments = space < 0 ? "" : text[(space + 1)..].Trim();
            return command switch
            {
                "/start" => await RouteAsync("start", mediator.Send(new ShowHelp.Command(who, Welcome: true), cancellationToken)),
                "/help" => await RouteAsync("help", mediator.Send(new ShowHelp.Command(who, Welcome: false), cancellationToken)),
                "/verify" => await RouteAsync("verify", mediator.Send(new VerifyWallet.Command(who), cancellationToken)),
                "/agent" => await RouteAsync("agent", mediator.Send(new SelectAgent.Command(who, arguments), cancellationToken)),
                "/buy_credits" => await RouteAsync("buy_credits", mediator.Send(new BuyCredits.Command(who), cancellationToken)),
                "/balance" => await RouteAsync("balance", mediator.Send(new ShowBalance.Command(who), cancellationToken)),
                _ => await UnknownAsync(who, command, cancellationToken),
            };
        }

        private async Task<Result<Handled>> UnknownAsync(TelegramSpeaker who, string command, CancellationToken cancellationToken)
        {
            await bot.SendTextAsync(who.ChatId, $"I don't know {command}. /help lists what I can do.", null, cancellationToken);
            return new Handled("unknown");
        }

        private static async Task<Result<Handled>> RouteAsync(string route, Task<Result<Replied>> sent)
        {
            var result = await sent;
            return result.IsSuccess ? new Handled(route) : result.Error!;
        }

        private static string Name(User user) => user.Username is { Length: > 0 } username ? "@" + username : user.FirstName;
    }
}

/// <summary>What a command request answers: the bot has replied in the chat.</summary>
public sealed record Replied(string What);
