using System.Globalization;
using System.Numerics;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Identity.Ownership;
using Freeside.Features.Linking;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Telegram;

/// <summary>
/// /agent &lt;community&gt; &lt;token id&gt;: the agent this chat talks to. Holders only: the linked wallet
/// must own the token now (NftOwnership, cached NFT_OWNERSHIP_CACHE_SECONDS, 60 s); every later
/// message is checked again by the chat service, so selling the NFT ends the conversation.
/// </summary>
public static class SelectAgent
{
    public const string Usage = "Usage: /agent <community> <token id>, e.g. /agent demo 1";

    public sealed record Command(TelegramSpeaker Speaker, string Arguments) : IRequest<Result<Replied>>;

    internal sealed class Handler(FreesideDb db, NftOwnership ownership, IMediator mediator, TelegramBot bot) : IRequestHandler<Command, Result<Replied>>
    {
        public async Task<Result<Replied>> Handle(Command request, CancellationToken cancellationToken)
        {
            var chat = request.Speaker.ChatId;
            var parts = request.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || parts[0].Length > 63
                || !BigInteger.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var token) || parts[1].Length > 78)
            {
                return await ReplyAsync(chat, Usage, "usage", cancellationToken);
            }

            var linked = await mediator.Send(new FindLinkedWallet.Query(LinkPlatform.Telegram, TelegramIds.User(request.Speaker.UserId)), cancellationToken);
            if (!linked.IsSuccess)
            {
                return linked.Error!;
            }

            if (linked.Value.Wallet is not { } wallet)
            {
                return await ReplyAsync(chat, "Link your wallet first: /verify", "not-linked", cancellationToken);
            }

            var community = await db.CommunityBySlugAsync(parts[0], cancellationToken);
            if (community.Error is not null)
            {
                return await ReplyAsync(chat, $"There is no community '{parts[0]}'.", "unknown-community", cancellationToken);
            }

            var owner = await ownership.OwnerOfAsync(community.Value.ChainId, community.Value.CollectionAddress, token, cancellationToken);
            if (!owner.IsSuccess)
            {
                await bot.SendTextAsync(chat, TelegramText.Problem(owner.Error!), null, cancellationToken);
                return owner.Error!;
            }

            if (owner.Value is null)
            {
                return await ReplyAsync(chat, $"Token {parts[1]} does not exist in {parts[0]}.", "unknown-token", cancellationToken);
            }

            if (owner.Value != wallet)
            {
                return await ReplyAsync(chat, $"Your linked wallet {wallet.ToChecksumString()} does not hold token {parts[1]} of {parts[0]}; only its holder may talk to its agent.",
                    "not-holder", cancellationToken);
            }

            var saved = await mediator.Send(new SaveChat.Command(chat, request.Speaker.UserId, parts[0], parts[1], null), cancellationToken);
            if (!saved.IsSuccess)
            {
                return saved.Error!;
            }

            return await ReplyAsync(chat, $"You are now talking to the agent of {parts[0]} #{parts[1]}. Say something!", "selected", cancellationToken);
        }

        private async Task<Result<Replied>> ReplyAsync(long chat, string text, string what, CancellationToken cancellationToken)
        {
            await bot.SendTextAsync(chat, text, null, cancellationToken);
            return new Replied(what);
        }
    }
}

/// <summary>Stores a chat's agent and conversation (one row per chat; a new agent starts a new conversation).</summary>
public static class SaveChat
{
    public sealed record Command(long ChatId, long UserId, string Slug, string TokenId, Guid? ConversationId) : ICommand<bool>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Slug).NotEmpty().MaximumLength(63);
            RuleFor(c => c.TokenId).NotEmpty().MaximumLength(78);
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<bool>>
    {
        public async Task<Result<bool>> Handle(Command request, CancellationToken cancellationToken)
        {
            var chat = await db.Set<TelegramChat>().SingleOrDefaultAsync(c => c.ChatId == request.ChatId, cancellationToken);
            if (chat is null)
            {
                chat = new TelegramChat { ChatId = request.ChatId };
                db.Add(chat);
            }

            chat.UserId = request.UserId;
            chat.CommunitySlug = request.Slug;
            chat.TokenId = request.TokenId;
            chat.ConversationId = request.ConversationId;
            chat.UpdatedAt = time.GetUtcNow();
            return true;
        }
    }
}
