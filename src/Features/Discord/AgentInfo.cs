using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Inference;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Discord;

/// <summary>/agent-info token_id: the agent's public profile (already filtered by the anti-narration rules).</summary>
public static class AgentInfo
{
    public sealed record Command(InteractionContext Context, string TokenId) : IDiscordCommand;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.TokenId).Must(AgentAccess.IsTokenId).WithMessage("token_id must be a whole number (the NFT's token id).");
        }
    }

    internal sealed class Handler(FreesideDb db, IMediator sender) : IRequestHandler<Command, Result<DiscordReply>>
    {
        public async Task<Result<DiscordReply>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (await GuildCommunity.SlugAsync(db, request.Context, cancellationToken) is not { } slug)
            {
                return GuildCommunity.NotConnected;
            }

            var profile = await sender.Send(new GetAgentProfile.Query(slug, request.TokenId), cancellationToken);
            if (!profile.IsSuccess)
            {
                return profile.Error is NotFound ? new DiscordUserError($"Agent #{request.TokenId} does not exist in this community.") : profile.Error!;
            }

            var p = profile.Value;
            return new DiscordReply($"**{p.DisplayName}** (Agent #{request.TokenId})\nElement: {p.Element}\n{p.Summary}");
        }
    }
}

internal static class GuildCommunity
{
    public static readonly DiscordUserError NotConnected = new("This server is not connected to a Freeside community yet; ask the platform admin.");

    public static Task<string?> SlugAsync(FreesideDb db, InteractionContext context, CancellationToken cancellationToken) =>
        context.GuildId is null
            ? Task.FromResult<string?>(null)
            : db.Set<DiscordGuild>().AsNoTracking().Where(g => g.GuildId == context.GuildId).Select(g => g.CommunitySlug).SingleOrDefaultAsync(cancellationToken);
}
