namespace Freeside.Features.Common.Time;

/// <summary>Process start, for the uptime reported by /health.</summary>
public sealed class ProcessClock(TimeProvider time)
{
    public DateTimeOffset StartedAt { get; } = time.GetUtcNow();

    public TimeSpan Uptime => time.GetUtcNow() - StartedAt;
}
