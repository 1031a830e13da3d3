using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Inference;
using Freeside.Features.Linking;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Telegram;

/// <summary>
/// A plain message: goes to the chat's agent through the shared chat service (source telegram) as
/// the sender's linked wallet, streamed back into the chat (<see cref="TelegramReplySink"/>). The
/// chat service does the holder check, the limits and the money; this only picks who and what.
/// </summary>
public static class AskAgent
{
    public sealed record Command(TelegramSpeaker Speaker, string Text) : IRequest<Result<Replied>>;

    internal sealed class Handler(FreesideDb db, IMediator mediator, TelegramBot bot, TelegramSettings settings, TimeProvider time)
        : IRequestHandler<Command, Result<Replied>>
    {
        public async Task<Result<Replied>> Handle(Command request, CancellationToken cancellationToken)
        {
            var chatId = request.Speaker.ChatId;
            var linked = await mediator.Send(new FindLinkedWallet.Query(LinkPlatform.Telegram, TelegramIds.User(request.Speaker.UserId)), cancellationToken);
            if (!linked.IsSuccess)
            {
                return linked.Error!;
            }

            if (linked.Value.Wallet is not { } wallet)
            {
                await bot.SendTextAsync(chatId, "Link your wallet first: /verify", null, cancellationToken);
                return new Replied("not-linked");
            }

            var chat = await db.Set<TelegramChat>().AsNoTracking().SingleOrDefaultAsync(c => c.ChatId == chatId, cancellationToken);
            if (chat is not { CommunitySlug: { } slug, TokenId: { } token })
            {
                await bot.SendTextAsync(chatId, "Pick an agent first: " + SelectAgent.Usage, null, cancellationToken);
                return new Replied("no-agent");
            }

            var sink = new TelegramReplySink(bot, chatId, settings.EditInterval, time);
            var result = await mediator.Send(new Chat.Command(slug, token, wallet, request.Text, null, ChatSource.Telegram, sink, chat.ConversationId), cancellationToken);
            if (result.Error is NotFound { What: "conversation" } && chat.ConversationId is not null)
            {
                // The conversation belongs to another wallet (relinked, or someone else in a group): start a new one.
                result = await mediator.Send(new Chat.Command(slug, token, wallet, request.Text, null, ChatSource.Telegram, sink), cancellationToken);
            }

            if (!result.IsSuccess)
            {
                if (sink.Started is null)
                {
                    await bot.SendTextAsync(chatId, TelegramText.Problem(result.Error!), null, cancellationToken);
                }

                return result.Error!;
            }

            if (sink.Started is { } started && started.ConversationId != chat.ConversationId)
            {
                var saved = await mediator.Send(new SaveChat.Command(chatId, request.Speaker.UserId, slug, token, started.ConversationId), cancellationToken);
                if (!saved.IsSuccess)
                {
                    return saved.Error!;
                }
            }

            return new Replied(result.Value.Completed ? "answered" : "interrupted");
        }
    }
}
