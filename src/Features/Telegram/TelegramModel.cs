using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Telegram;

/// <summary>An update id Freeside accepted (telegram_updates): the replay guard.</summary>
public sealed class TelegramUpdateRow
{
    public long UpdateId { get; init; }

    public string Kind { get; init; } = "";

    public DateTimeOffset ReceivedAt { get; init; }
}

/// <summary>A chat's selected agent and its running conversation (telegram_chats).</summary>
public sealed class TelegramChat
{
    public long ChatId { get; init; }

    public long UserId { get; set; }

    public string? CommunitySlug { get; set; }

    public string? TokenId { get; set; }

    public Guid? ConversationId { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>A checkout started from a chat (telegram_checkouts), so the chat hears when its credits land.</summary>
public sealed class TelegramCheckout
{
    public Guid PaymentId { get; init; }

    public long ChatId { get; init; }

    public long UserId { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? NotifiedAt { get; set; }
}

public sealed class TelegramUpdateRowConfiguration : IEntityTypeConfiguration<TelegramUpdateRow>
{
    public void Configure(EntityTypeBuilder<TelegramUpdateRow> builder)
    {
        builder.ToTable("telegram_updates").HasKey(u => u.UpdateId);
        builder.Property(u => u.UpdateId).ValueGeneratedNever();
    }
}

public sealed class TelegramChatConfiguration : IEntityTypeConfiguration<TelegramChat>
{
    public void Configure(EntityTypeBuilder<TelegramChat> builder)
    {
        builder.ToTable("telegram_chats").HasKey(c => c.ChatId);
        builder.Property(c => c.ChatId).ValueGeneratedNever();
    }
}

public sealed class TelegramCheckoutConfiguration : IEntityTypeConfiguration<TelegramCheckout>
{
    public void Configure(EntityTypeBuilder<TelegramCheckout> builder) => builder.ToTable("telegram_checkouts").HasKey(c => c.PaymentId);
}
