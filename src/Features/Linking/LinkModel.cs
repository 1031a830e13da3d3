using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Linking;

/// <summary>The chat platforms whose users can link a wallet.</summary>
public enum LinkPlatform
{
    Discord,
    Telegram,
}

public static class LinkPlatforms
{
    public static string ToWire(this LinkPlatform platform) => platform switch
    {
        LinkPlatform.Discord => "discord",
        LinkPlatform.Telegram => "telegram",
        _ => throw new ArgumentOutOfRangeException(nameof(platform)),
    };

    public static LinkPlatform FromWire(string wire) => wire switch
    {
        "discord" => LinkPlatform.Discord,
        "telegram" => LinkPlatform.Telegram,
        _ => throw new ArgumentOutOfRangeException(nameof(wire), wire, "Unknown link platform."),
    };

    public static string DisplayName(this LinkPlatform platform) => platform switch
    {
        LinkPlatform.Discord => "Discord",
        _ => "Telegram",
    };
}

/// <summary>One /verify: a single-use link that a SIWE signature completes.</summary>
public sealed class LinkRequest
{
    public const int MaxAttempts = 3;

    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(15);

    public Guid Id { get; init; }

    public byte[] TokenHash { get; init; } = [];

    public LinkPlatform Platform { get; init; }

    public string ExternalUserId { get; init; } = "";

    public string? DisplayName { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset ExpiresAt { get; init; }

    public int Attempts { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }

    public string? Wallet { get; set; }

    /// <summary>Why this link can no longer be used, or null while it can.</summary>
    public LinkUnusable? Unusable(DateTimeOffset now) =>
        CompletedAt is not null ? new LinkUnusable("link-used", "This link has already been used; ask the bot for a new one with /verify.")
        : ExpiresAt <= now ? new LinkUnusable("link-expired", "This link has expired; ask the bot for a new one with /verify.")
        : Attempts >= MaxAttempts ? new LinkUnusable("link-attempts-exhausted", $"This link has had its {MaxAttempts} attempts; ask the bot for a new one with /verify.")
        : null;
}

/// <summary>The wallet a chat user has proven they control; the latest proof wins.</summary>
public sealed class WalletLink
{
    /// <summary>How often a link is re-verified on chain (docs/discord.md, "Re-verification").</summary>
    public static readonly TimeSpan ReverifyEvery = TimeSpan.FromHours(24);

    /// <summary>A link not verified for this long lets its user do nothing until re-verified or re-linked: two missed days, so one chain outage costs no one access.</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromHours(48);

    public LinkPlatform Platform { get; init; }

    public string ExternalUserId { get; init; } = "";

    public string Wallet { get; set; } = "";

    public DateTimeOffset LinkedAt { get; set; }

    /// <summary>The last /verify or successful re-verification.</summary>
    public DateTimeOffset VerifiedAt { get; set; }

    /// <summary>The last time the re-verification job looked at this link, whatever the chain answered.</summary>
    public DateTimeOffset? CheckedAt { get; set; }

    public static bool IsStale(DateTimeOffset verifiedAt, DateTimeOffset now) => now - verifiedAt > StaleAfter;
}

internal sealed class LinkRequestConfiguration : IEntityTypeConfiguration<LinkRequest>
{
    public void Configure(EntityTypeBuilder<LinkRequest> builder)
    {
        builder.ToTable("link_requests").HasKey(l => l.Id);
        builder.Property(l => l.Platform).HasConversion(p => p.ToWire(), p => LinkPlatforms.FromWire(p));
    }
}

internal sealed class WalletLinkConfiguration : IEntityTypeConfiguration<WalletLink>
{
    public void Configure(EntityTypeBuilder<WalletLink> builder)
    {
        builder.ToTable("wallet_links").HasKey(l => new { l.Platform, l.ExternalUserId });
        builder.Property(l => l.Platform).HasConversion(p => p.ToWire(), p => LinkPlatforms.FromWire(p));
    }
}
