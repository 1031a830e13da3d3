using System.Text.Json;
using Freeside.Features.Discord.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Discord;

public enum DiscordWriteStatus
{
    Pending,
    Sent,
    Dead,
}

/// <summary>
/// One Discord write (a message, an edit, a thread, a DM, an interaction follow-up) waiting in the
/// durable queue. Added in the caller's transaction, so a command's own changes and the writes it
/// asks for commit together; <see cref="DiscordWriteWorker"/> sends it.
/// </summary>
public sealed class DiscordWrite
{
    /// <summary>The first try and then retries after 5 s, 25 s and 125 s (the base is DISCORD_QUEUE_RETRY_BASE_MS).</summary>
    public const int MaxAttempts = 4;

    public Guid Id { get; init; }

    /// <summary>Unique when set: the same event asked twice (a replayed gateway dispatch) queues one write.</summary>
    public string? DedupeKey { get; init; }

    /// <summary>Where the write came from, for the admin: community:{slug}, interaction, payment, …</summary>
    public required string Origin { get; init; }

    public required string Method { get; init; }

    public required string Path { get; init; }

    public string? Body { get; init; }

    public DiscordWriteStatus Status { get; set; }

    public int Attempts { get; set; }

    public DateTimeOffset NextAttemptAt { get; set; }

    public DateTimeOffset? LeaseUntil { get; set; }

    public int? LastStatus { get; set; }

    public string? LastError { get; set; }

    public string? Response { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; set; }

    public static DiscordWrite Create(string origin, HttpMethod method, string path, object? body, DateTimeOffset now, string? dedupeKey = null) => new()
    {
        Id = Guid.NewGuid(),
        DedupeKey = dedupeKey,
        Origin = origin,
        Method = method.Method,
        Path = path,
        Body = body is null ? null : JsonSerializer.Serialize(body, DiscordJson.Options),
        Status = DiscordWriteStatus.Pending,
        NextAttemptAt = now,
        CreatedAt = now,
    };

    /// <summary>Delay before the retry that follows failed attempt <paramref name="attempt"/> (1-based): base × 5^(attempt−1).</summary>
    public static TimeSpan Backoff(TimeSpan retryBase, int attempt) => retryBase * Math.Pow(5, attempt - 1);

    public DiscordRequest ToRequest() => new(new HttpMethod(Method), Path, Body);
}

public sealed class DiscordWriteConfiguration : IEntityTypeConfiguration<DiscordWrite>
{
    public void Configure(EntityTypeBuilder<DiscordWrite> builder)
    {
        builder.ToTable("discord_writes");
        builder.HasKey(w => w.Id);
        builder.Property(w => w.Status).HasConversion(s => s.ToString().ToLowerInvariant(), s => Enum.Parse<DiscordWriteStatus>(s, true));
    }
}
