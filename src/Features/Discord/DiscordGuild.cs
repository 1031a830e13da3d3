using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Discord;

/// <summary>A Discord server (guild) connected to a community; its slash commands act for that community.</summary>
public sealed class DiscordGuild
{
    public required string GuildId { get; init; }

    public required string CommunitySlug { get; set; }

    /// <summary>Where agent threads are opened; null: the channel the command was used in.</summary>
    public string? AgentChannelId { get; set; }

    public DateTimeOffset LinkedAt { get; set; }
}

public sealed class DiscordGuildConfiguration : IEntityTypeConfiguration<DiscordGuild>
{
    public void Configure(EntityTypeBuilder<DiscordGuild> builder)
    {
        builder.ToTable("discord_guilds");
        builder.HasKey(g => g.GuildId);
    }
}
