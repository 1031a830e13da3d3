using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Discord;

/// <summary>Connects a Discord server to a community (platform admin); connecting it again moves it.</summary>
public static class ConnectGuild
{
    public sealed record Command(string Slug, string? GuildId, string? AgentChannelId) : ICommand<GuildView>;

    public sealed record GuildView(string GuildId, string Community, string? AgentChannelId, DateTimeOffset LinkedAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Slug).NotEmpty().MaximumLength(63);
            RuleFor(c => c.GuildId).NotEmpty().Must(IsSnowflake).WithMessage("guild_id must be a Discord id (digits).");
            RuleFor(c => c.AgentChannelId).Must(id => id is null || IsSnowflake(id)).WithMessage("agent_channel_id must be a Discord id (digits).");
        }
    }

    public static bool IsSnowflake(string? id) => id is { Length: > 0 and <= 20 } && id.All(char.IsAsciiDigit);

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<GuildView>>
    {
        public async Task<Result<GuildView>> Handle(Command request, CancellationToken cancellationToken)
        {
            var community = await db.CommunityBySlugAsync(request.Slug, cancellationToken);
            if (!community.IsSuccess)
            {
                return community.Error!;
            }

            var guilds = db.Set<DiscordGuild>();
            foreach (var previous in await guilds.Where(g => g.CommunitySlug == request.Slug && g.GuildId != request.GuildId).ToListAsync(cancellationToken))
            {
                guilds.Remove(previous);
            }

            var guild = await guilds.SingleOrDefaultAsync(g => g.GuildId == request.GuildId, cancellationToken);
            if (guild is null)
            {
                guild = new DiscordGuild { GuildId = request.GuildId!, CommunitySlug = request.Slug };
                guilds.Add(guild);
            }

            guild.CommunitySlug = request.Slug;
            guild.AgentChannelId = request.AgentChannelId;
            guild.LinkedAt = time.GetUtcNow();
            return new GuildView(guild.GuildId, guild.CommunitySlug, guild.AgentChannelId, guild.LinkedAt);
        }
    }
}
