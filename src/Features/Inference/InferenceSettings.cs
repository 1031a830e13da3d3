using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Freeside.Features.Inference;

/// <summary>The inference bridge's settings (README, "Configuration").</summary>
public sealed record InferenceSettings(
    Uri FinnUrl,
    TimeSpan FirstByteTimeout,
    TimeSpan RetryBackoff,
    TimeSpan BreakDuration,
    int BreakerMinimumCalls,
    bool AgentEnabled,
    bool EnsembleEnabled)
{
    public static InferenceSettings Load(IConfiguration configuration, List<string> errors)
    {
        var url = new Uri("http://127.0.0.1:5100");
        if (configuration["LOA_FINN_URL"] is { Length: > 0 } rawUrl
            && (!Uri.TryCreate(rawUrl, UriKind.Absolute, out url!) || url.Scheme is not ("http" or "https")))
        {
            errors.Add("LOA_FINN_URL: must be the absolute http(s) base URL of loa-finn");
            url = new Uri("http://127.0.0.1:5100");
        }

        return new InferenceSettings(
            url,
            TimeSpan.FromMilliseconds(Whole(configuration, "FINN_FIRST_BYTE_TIMEOUT_MS", 60_000, 1, 600_000, errors)),
            TimeSpan.FromMilliseconds(Whole(configuration, "FINN_RETRY_BACKOFF_MS", 200, 0, 10_000, errors)),
            TimeSpan.FromSeconds(Whole(configuration, "FINN_BREAKER_BREAK_SECONDS", 30, 1, 3_600, errors)),
            Whole(configuration, "FINN_BREAKER_MINIMUM_CALLS", 5, 2, 10_000, errors),
            Flag(configuration, "AGENT_ENABLED", true, errors),
            Flag(configuration, "ENSEMBLE_ENABLED", false, errors));
    }

    private static int Whole(IConfiguration configuration, string name, int fallback, int min, int max, List<string> errors)
    {
        if (configuration[name] is not { Length: > 0 } raw)
        {
            return fallback;
        }

        if (int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        errors.Add($"{name}: must be a whole number from {min} to {max}");
        return fallback;
    }

    private static bool Flag(IConfiguration configuration, string name, bool fallback, List<string> errors)
    {
        if (configuration[name] is not { Length: > 0 } raw)
        {
            return fallback;
        }

        if (bool.TryParse(raw, out var value))
        {
            return value;
        }

        errors.Add($"{name}: must be true or false");
        return fallback;
    }
}
