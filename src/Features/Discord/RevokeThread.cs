using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Discord.Client;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Discord;

/// <summary>The holder no longer holds the NFT (or unlinked the wallet): the thread stops answering them, with a notice, once.</summary>
public static class RevokeThread
{
    public sealed record Command(Guid CommunityId, Guid ThreadRowId) : ICommand<bool>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.ThreadRowId).NotEmpty();
        }
    }

    internal sealed class Handler(FreesideDb db, DiscordWriteSignal signal, TimeProvider time) : IRequestHandler<Command, Result<bool>>
    {
        public async Task<Result<bool>> Handle(Command request, CancellationToken cancellationToken)
        {
            await db.EnterCommunityAsync(request.CommunityId, cancellationToken);
            var thread = await db.Set<AgentThread>().SingleOrDefaultAsync(t => t.Id == request.ThreadRowId, cancellationToken);
            if (thread is not { Status: AgentThreadStatus.Open, ThreadId: { } threadId })
            {
                return false;
            }

            var now = time.GetUtcNow();
            thread.Status = AgentThreadStatus.Revoked;
            thread.RevokedAt = now;
            db.Set<DiscordWrite>().Add(DiscordWrite.Create(thread.CreateOrigin, HttpMethod.Post, $"channels/{threadId}/messages",
                new MessagePayload($"{thread.Name} has a new holder: this thread no longer answers <@{thread.HolderUserId}>. The new holder can open their own with /my-agent."),
                now, "revoked:" + thread.Id.ToString("N")));
            signal.Notify();
            return true;
        }
    }
}

/// <summary>Remembers the chat conversation a thread's first answer started, so later messages carry its context.</summary>
public static class RememberConversation
{
    public sealed record Command(Guid CommunityId, Guid ThreadRowId, Guid ConversationId) : ICommand<bool>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.ConversationId).NotEmpty();
        }
    }

    internal sealed class Handler(FreesideDb db) : IRequestHandler<Command, Result<bool>>
    {
        public async Task<Result<bool>> Handle(Command request, CancellationToken cancellationToken)
        {
            await db.EnterCommunityAsync(request.CommunityId, cancellationToken);
            var thread = await db.Set<AgentThread>().SingleOrDefaultAsync(t => t.Id == request.ThreadRowId, cancellationToken);
            if (thread is null || thread.ConversationId is not null)
            {
                return false;
            }

            thread.ConversationId = request.ConversationId;
            return true;
        }
    }
}
