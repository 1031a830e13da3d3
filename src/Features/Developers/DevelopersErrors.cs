using Freeside.Features.Common.Errors;
using Freeside.Features.Common.RateLimiting;

namespace Freeside.Features.Developers;

/// <summary>A developer already has the most active keys allowed.</summary>
public sealed record TooManyApiKeys()
    : Error(ErrorKind.Conflict, "too-many-api-keys", "Too many active API keys.",
        $"A developer may have at most {ApiKey.MaxActivePerDeveloper} active keys; delete one first.");

/// <summary>The key is deleted or past its rotation grace: it cannot be rotated.</summary>
public sealed record ApiKeyInactive(string KeyId)
    : Error(ErrorKind.Conflict, "api-key-inactive", "The API key is no longer active.", $"Key '{KeyId}' was deleted or its rotation grace has ended.");

/// <summary>The presented API key is missing, malformed, unknown, deleted or past its grace.</summary>
public sealed record InvalidApiKey(string Detail)
    : Error(ErrorKind.Unauthorized, "invalid-api-key", "Invalid API key.", Detail);

/// <summary>The model is neither a pool nor an agent model.</summary>
public sealed record UnknownModel(string Model)
    : Error(ErrorKind.NotFound, "model-not-found", "The model does not exist.", $"The model '{Model}' does not exist or you do not have access to it.");

/// <summary>A test key asked for a pool outside the sandbox, or a live key for one outside its tier.</summary>
public sealed record ModelNotAllowed(string Model, string Detail)
    : Error(ErrorKind.Forbidden, "model-not-allowed", "The model is not available to this key.", Detail);

/// <summary>The key's requests per minute or tokens per day are used up; nothing was reserved.</summary>
public sealed record ApiKeyRateLimited(string Limit, RateLimitDecision Decision, string Detail)
    : Error(ErrorKind.TooManyRequests, "rate-limited", "Too many requests.", Detail)
{
    public override IReadOnlyDictionary<string, object?> Extensions { get; } = new Dictionary<string, object?>
    {
        ["limit_name"] = Limit,
        ["limit"] = Decision.Limit,
        ["remaining"] = Decision.Remaining,
        ["reset"] = Decision.ResetUnixSeconds,
        ["retry_after"] = Decision.RetryAfterSeconds,
    };
}

/// <summary>No API_KEY_PEPPER_V1 is configured: keys can be neither made nor verified.</summary>
public sealed record ApiKeysUnconfigured()
    : Error(ErrorKind.Unavailable, "api-keys-unconfigured", "API keys are not configured.",
        "This Freeside has no API_KEY_PEPPER_V1, so it cannot make API keys.");
