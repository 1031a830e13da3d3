using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Discord.Client;
using Freeside.Features.Inference;
using Freeside.Features.Linking;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Discord;

/// <summary>
/// /my-agent token_id: a verified holder's own thread with the NFT's agent. An existing thread is
/// reused; a new one is private when the bot may create private threads, else public (the bot still
/// answers only the holder). The thread is created through the queue; <see cref="ThreadCreated"/>
/// records its id, adds the holder and greets them.
/// </summary>
public static class MyAgent
{
    public sealed record Command(InteractionContext Context, string TokenId) : Common.Mediation.ICommand<DiscordReply>, IDiscordCommand;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.TokenId).Must(AgentAccess.IsTokenId).WithMessage("token_id must be a whole number (the NFT's token id).");
        }
    }

    internal sealed class Handler(FreesideDb db, IMediator mediator, DiscordWriteSignal signal, TimeProvider time) : IRequestHandler<Command, Result<DiscordReply>>
    {
        public async Task<Result<DiscordReply>> Handle(Command request, CancellationToken cancellationToken)
        {
            var context = request.Context;
            var guild = context.GuildId is null ? null
                : await db.Set<DiscordGuild>().AsNoTracking().SingleOrDefaultAsync(g => g.GuildId == context.GuildId, cancellationToken);
            if (guild is null)
            {
                return GuildCommunity.NotConnected;
            }

            var missing = Permissions.NeededForThreads.Where(p => (context.AppPermissions & p.Bit) == 0).Select(p => p.Name).ToList();
            if (missing.Count > 0)
            {
                return new DiscordReply($"I cannot open agent threads here: I am missing the {string.Join(", ", missing)} permission(s). Ask a server admin to grant them.");
            }

            var linked = await mediator.Send(new FindLinkedWallet.Query(LinkPlatform.Discord, context.UserId), cancellationToken);
            if (!linked.IsSuccess)
            {
                return linked.Error!;
            }

            if (linked.Value.Wallet is not { } wallet)
            {
                return new DiscordReply("Link your wallet first with /verify, then try /my-agent again.");
            }

            if (linked.Value.IsStale(time.GetUtcNow()))
            {
                return new DiscordReply(StaleLink.Explanation(linked.Value.VerifiedAt!.Value, "try /my-agent again"));
            }

            var community = await db.CommunityBySlugAsync(guild.CommunitySlug, cancellationToken);
            if (!community.IsSuccess)
            {
                return community.Error!;
            }

            var owner = await mediator.Send(new CheckHolder.Query(guild.CommunitySlug, request.TokenId, wallet), cancellationToken);
            if (!owner.IsSuccess)
            {
                return owner.Error is AccessDenied or NotFound
                    ? new DiscordReply($"Your linked wallet does not hold Agent #{request.TokenId}.")
                    : owner.Error!;
            }

            var communityId = community.Value.Id;
            await db.EnterCommunityAsync(communityId, cancellationToken);
            var existing = await db.Set<AgentThread>().SingleOrDefaultAsync(
                t => t.CommunityId == communityId && t.TokenId == request.TokenId && t.HolderUserId == context.UserId, cancellationToken);
            var stored = CommunityAdminsWallet(wallet);
            if (existing is { Status: AgentThreadStatus.Open, ThreadId: { } threadId })
            {
                existing.HolderWallet = stored;
                return new DiscordReply($"Your thread with {existing.Name}: <#{threadId}>");
            }

            if (existing is { Status: AgentThreadStatus.Creating })
            {
                return new DiscordReply($"Your thread with {existing.Name} is being created; it will appear in a moment.");
            }

            var profile = await mediator.Send(new GetAgentProfile.Query(guild.CommunitySlug, request.TokenId), cancellationToken);
            var name = profile.IsSuccess && profile.Value.DisplayName is { Length: > 0 } display ? display : $"Agent #{request.TokenId}";
            name = name.Length > 100 ? name[..100] : name;
            var isPrivate = (context.AppPermissions & Permissions.CreatePrivateThreads) != 0;
            var now = time.GetUtcNow();
            var thread = existing ?? new AgentThread
            {
                Id = Guid.NewGuid(), CommunityId = communityId, GuildId = guild.GuildId, TokenId = request.TokenId, HolderUserId = context.UserId,
                HolderWallet = stored, ParentChannelId = guild.AgentChannelId ?? context.ChannelId ?? guild.GuildId, Name = name, Private = isPrivate,
                CreatedAt = now,
            };
            if (existing is null)
            {
                db.Set<AgentThread>().Add(thread);
            }

            thread.HolderWallet = stored;
            thread.Status = AgentThreadStatus.Creating;
            db.Set<DiscordWrite>().Add(DiscordWrite.Create(thread.CreateOrigin, HttpMethod.Post, $"channels/{thread.ParentChannelId}/threads",
                new { name, type = isPrivate ? 12 : 11, auto_archive_duration = 10080, invitable = false }, now, thread.CreateOrigin + ":" + now.ToUnixTimeMilliseconds()));
            signal.Notify();
            return new DiscordReply($"Opening your {(isPrivate ? "private" : "public")} thread with {name}…");
        }

        private static string CommunityAdminsWallet(EthereumAddress wallet) => wallet.ToChecksumString().ToLowerInvariant();
    }
}

/// <summary>Whether a wallet holds a community's token right now (ownership is cached by Identity for 60 s).</summary>
public static class CheckHolder
{
    public sealed record Query(string Slug, string TokenId, EthereumAddress Wallet) : Common.Mediation.IQuery<OwnedAgent>;

    internal sealed class Handler(FreesideDb db, Identity.Ownership.NftOwnership ownership) : IRequestHandler<Query, Result<OwnedAgent>>
    {
        public Task<Result<OwnedAgent>> Handle(Query request, CancellationToken cancellationToken) =>
            AgentAccess.ResolveAsync(db, ownership, request.Slug, request.TokenId, request.Wallet, cancellationToken);
    }
}

/// <summary>Discord created a thread we asked for: record its id, add the holder, greet them.</summary>
public static class ThreadCreated
{
    public sealed record Command(Guid ThreadRowId, string Response) : Common.Mediation.ICommand<bool>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Response).NotEmpty();
        }
    }

    internal sealed class Handler(FreesideDb db, DiscordWriteSignal signal, TimeProvider time) : IRequestHandler<Command, Result<bool>>
    {
        public async Task<Result<bool>> Handle(Command request, CancellationToken cancellationToken)
        {
            var channel = System.Text.Json.JsonSerializer.Deserialize<DiscordChannel>(request.Response, DiscordJson.Options);
            if (channel?.Id is not { } threadId || !ConnectGuild.IsSnowflake(threadId))
            {
                return new InteractionMalformed("Discord's answer to a thread creation carries no id.");
            }

            await db.EnterPlatformScopeAsync(cancellationToken);
            var thread = await db.Set<AgentThread>().SingleOrDefaultAsync(t => t.Id == request.ThreadRowId, cancellationToken);
            if (thread is null || thread.Status != AgentThreadStatus.Creating)
            {
                return false;
            }

            thread.ThreadId = threadId;
            thread.Status = AgentThreadStatus.Open;
            var now = time.GetUtcNow();
            if (thread.Private)
            {
                db.Set<DiscordWrite>().Add(DiscordWrite.Create(thread.CreateOrigin, HttpMethod.Put, $"channels/{threadId}/thread-members/{thread.HolderUserId}", null, now,
                    $"thread-member:{threadId}:{thread.HolderUserId}"));
            }

            db.Set<DiscordWrite>().Add(DiscordWrite.Create(thread.CreateOrigin, HttpMethod.Post, $"channels/{threadId}/messages",
                new MessagePayload($"<@{thread.HolderUserId}>, this is your thread with {thread.Name}. Write here and I answer; only you."), now,
                $"thread-welcome:{threadId}"));
            signal.Notify();
            return true;
        }
    }

    internal sealed class OnSent(IMediator mediator) : INotificationHandler<DiscordWriteSent>
    {
        public async Task Handle(DiscordWriteSent notification, CancellationToken cancellationToken)
        {
            if (notification.Origin.StartsWith("thread:", StringComparison.Ordinal) && notification.DedupeKey?.StartsWith("thread:", StringComparison.Ordinal) == true
                && Guid.TryParseExact(notification.Origin["thread:".Length..], "N", out var rowId))
            {
                await mediator.Send(new Command(rowId, notification.Response), cancellationToken);
            }
        }
    }
}
