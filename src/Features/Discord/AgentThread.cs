using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Discord;

public enum AgentThreadStatus
{
    Creating,
    Open,
    Revoked,
}

/// <summary>A holder's thread with the agent of one NFT. Created in the queue; open once Discord answered with its id.</summary>
public sealed class AgentThread
{
    public Guid Id { get; init; }

    public Guid CommunityId { get; init; }

    public required string GuildId { get; init; }

    public required string TokenId { get; init; }

    public required string HolderUserId { get; init; }

    public required string HolderWallet { get; set; }

    public required string ParentChannelId { get; init; }

    public string? ThreadId { get; set; }

    public required string Name { get; init; }

    public bool Private { get; init; }

    public AgentThreadStatus Status { get; set; }

    public Guid? ConversationId { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? RevokedAt { get; set; }

    /// <summary>The queue origin of the write that creates this thread; its answer carries the thread's id.</summary>
    public string CreateOrigin => "thread:" + Id.ToString("N");
}

public sealed class AgentThreadConfiguration : IEntityTypeConfiguration<AgentThread>
{
    public void Configure(EntityTypeBuilder<AgentThread> builder)
    {
        builder.ToTable("discord_agent_threads");
        builder.HasKey(t => t.Id);
        builder.Property(t => t.Status).HasConversion(s => s.ToString().ToLowerInvariant(), s => Enum.Parse<AgentThreadStatus>(s, true));
    }
}

public sealed class DiscordCheckout
{
    public Guid PaymentId { get; init; }

    public required string UserId { get; init; }

    public required string CommunitySlug { get; init; }

    public DateTimeOffset? NotifiedAt { get; set; }

    public DateTimeOffset CreatedAt { get; init; }
}

public sealed class DiscordCheckoutConfiguration : IEntityTypeConfiguration<DiscordCheckout>
{
    public void Configure(EntityTypeBuilder<DiscordCheckout> builder)
    {
        builder.ToTable("discord_checkouts");
        builder.HasKey(c => c.PaymentId);
    }
}

/// <summary>Discord permission bits Freeside checks (the interaction's app_permissions).</summary>
public static class Permissions
{
    public const long ReadMessageHistory = 1L << 16;
    public const long ManageThreads = 1L << 34;
    public const long CreatePrivateThreads = 1L << 36;
    public const long SendMessagesInThreads = 1L << 38;

    public static readonly (long Bit, string Name)[] NeededForThreads =
    [
        (ManageThreads, "Manage Threads"), (SendMessagesInThreads, "Send Messages in Threads"), (ReadMessageHistory, "Read Message History"),
    ];
}
