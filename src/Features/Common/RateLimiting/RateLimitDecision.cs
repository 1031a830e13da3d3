using System.Globalization;
using Freeside.Features.Common.Errors;

namespace Freeside.Features.Common.RateLimiting;

/// <summary>The limiter's answer for one request: allowed or not, and what the X-RateLimit-* headers say.</summary>
/// <param name="Remaining">What is left after this request (0 when refused).</param>
/// <param name="ResetAt">When the key is back at full capacity.</param>
/// <param name="RetryAfter">How long until this request would be allowed (zero when allowed).</param>
/// <param name="Fallback">Decided in this process's memory because Redis was not available.</param>
public sealed record RateLimitDecision(
    RateLimitPolicy Policy, bool Allowed, int Remaining, DateTimeOffset ResetAt, TimeSpan RetryAfter, bool Fallback)
{
    public int Limit => Policy.Capacity;

    public long ResetUnixSeconds => (ResetAt.ToUnixTimeMilliseconds() + 999) / 1000;

    /// <summary>Whole seconds, at least 1, so a client that waits that long is let in.</summary>
    public long RetryAfterSeconds => Math.Max(1, (long)Math.Ceiling(RetryAfter.TotalSeconds));
}

/// <summary>A rate limit refused the request: 429 with Retry-After and the X-RateLimit-* headers.</summary>
public sealed record RateLimited(RateLimitDecision Decision)
    : Error(ErrorKind.TooManyRequests, "rate-limited", "Too many requests.",
        $"The '{Decision.Policy.Name}' limit ({Decision.Policy.Describe()}) is used up; retry after {Decision.RetryAfterSeconds} s.")
{
    public override IReadOnlyDictionary<string, object?> Extensions { get; } = new Dictionary<string, object?>
    {
        ["policy"] = Decision.Policy.Name,
        ["limit"] = Decision.Limit,
        ["remaining"] = Decision.Remaining,
        ["reset"] = Decision.ResetUnixSeconds,
        ["retry_after"] = Decision.RetryAfterSeconds,
    };

    /// <summary>Reads the decision's numbers back from a problem document's extensions (for the headers).</summary>
    internal static bool TryReadHeaders(IDictionary<string, object?> extensions, out (string Limit, string Remaining, string Reset, string RetryAfter) headers)
    {
        headers = default;
        if (!extensions.TryGetValue("limit", out var limit) || !extensions.TryGetValue("remaining", out var remaining)
            || !extensions.TryGetValue("reset", out var reset) || !extensions.TryGetValue("retry_after", out var retry))
        {
            return false;
        }

        headers = (Text(limit), Text(remaining), Text(reset), Text(retry));
        return true;
    }

    private static string Text(object? value) => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
}
