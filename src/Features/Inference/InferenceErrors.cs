using Freeside.Features.Common.Errors;
using Freeside.Features.Common.RateLimiting;

namespace Freeside.Features.Inference;

/// <summary>finn could not be reached, answered 502/503 on every attempt, or its breaker is open.</summary>
public sealed record FinnUnavailable(string Detail)
    : Error(ErrorKind.Unavailable, "finn-unavailable", "The inference engine is unavailable.", Detail);

/// <summary>finn sent no first byte within the first-byte timeout.</summary>
public sealed record FinnTimedOut(TimeSpan After)
    : Error(ErrorKind.Timeout, "finn-first-byte-timeout", "The inference engine did not answer in time.",
        $"finn sent nothing within {After.TotalSeconds:0.###} s; nothing was charged.");

/// <summary>finn speaks a contract of another major version; talking to it could mis-bill.</summary>
public sealed record FinnContractMismatch(string Version)
    : Error(ErrorKind.Unavailable, "finn-contract-mismatch", "The inference engine speaks another contract version.",
        $"finn reports contract version '{Version}', Freeside speaks 7.x.");

/// <summary>finn refused the call with one of the contract's error codes.</summary>
public sealed record FinnRefused(int Status, string Code, string Detail)
    : Error(KindFor(Status), "finn-refused", "The inference engine refused the call.", Detail)
{
    public override IReadOnlyDictionary<string, object?> Extensions { get; } =
        new Dictionary<string, object?> { ["finn_code"] = Code, ["finn_status"] = Status };

    // Any other refusal (a token or body finn would not take) is not the caller's doing: answer as an unavailable upstream.
    private static ErrorKind KindFor(int status) => status switch
    {
        402 => ErrorKind.PaymentRequired,
        403 => ErrorKind.Forbidden,
        429 => ErrorKind.TooManyRequests,
        _ => ErrorKind.Unavailable,
    };
}

/// <summary>AGENT_ENABLED=false: the kill switch is on.</summary>
public sealed record AgentsDisabled()
    : Error(ErrorKind.Unavailable, "agents-disabled", "Agents are switched off.", "Chat is disabled on this Freeside (AGENT_ENABLED=false); nothing was reserved.");

/// <summary>The caller asked for a pool its tier does not include; refused before any money moves.</summary>
public sealed record PoolNotInTier(string Pool, string Tier)
    : Error(ErrorKind.Forbidden, "pool-not-in-tier", "The pool is not part of your tier.", $"Pool '{Pool}' is not available to tier '{Tier}'.");

/// <summary>finn answered from a pool outside the allowed set: the call is charged nothing.</summary>
public sealed record PoolClaimViolation(string Pool)
    : Error(ErrorKind.Unavailable, "pool-claim-violation", "The inference engine used a pool it may not use.",
        $"finn reported pool '{Pool}', outside the pools allowed for this call; nothing was charged.");

/// <summary>One of the four chat limits (burst, user, channel, community) is used up; nothing was reserved.</summary>
public sealed record ChatRateLimited(string Dimension, RateLimitDecision Decision)
    : Error(ErrorKind.TooManyRequests, "rate-limited", "Too many requests.",
        $"The chat '{Dimension}' limit ({Decision.Policy.Describe()}) is used up; retry after {Decision.RetryAfterSeconds} s.")
{
    public override IReadOnlyDictionary<string, object?> Extensions { get; } = new Dictionary<string, object?>
    {
        ["policy"] = Decision.Policy.Name,
        ["dimension"] = Dimension,
        ["limit"] = Decision.Limit,
        ["remaining"] = Decision.Remaining,
        ["reset"] = Decision.ResetUnixSeconds,
        ["retry_after"] = Decision.RetryAfterSeconds,
    };
}

/// <summary>The wallet's chats today plus this call's worst case would pass the community's per-wallet daily cap.</summary>
public sealed record DailyCapReached(long CapMicro, long SpentMicro, long NeededMicro)
    : Error(ErrorKind.PaymentRequired, "daily-cap-reached", "Your daily chat budget is used up.",
        $"This chat may cost up to {NeededMicro} micro-USD; you have spent {SpentMicro} of your {CapMicro} micro-USD today.");

/// <summary>An ensemble was asked for where none may run: ENSEMBLE_ENABLED is off, or the tier is free.</summary>
public sealed record EnsembleNotAvailable(string Detail)
    : Error(ErrorKind.Invalid, "ensemble-not-available", "Ensembles are not available for this call.", Detail);
