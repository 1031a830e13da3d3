using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Inference;

/// <summary>One message of a conversation with an agent (agent_messages).</summary>
public sealed class AgentMessage
{
    public Guid Id { get; init; }

    public Guid ConversationId { get; init; }

    public required string NftId { get; init; }

    public Guid CommunityId { get; init; }

    public required string Source { get; init; }

    /// <summary>Lower-case hex.</summary>
    public required string AuthorWallet { get; init; }

    /// <summary>user | assistant.</summary>
    public required string Role { get; init; }

    public required string Content { get; init; }

    public int? TokensInput { get; init; }

    public int? TokensOutput { get; init; }

    public string? PoolId { get; init; }

    public long? CostMicro { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

public sealed class AgentMessageConfiguration : IEntityTypeConfiguration<AgentMessage>
{
    public void Configure(EntityTypeBuilder<AgentMessage> builder) => builder.ToTable("agent_messages").HasKey(m => m.Id);
}
