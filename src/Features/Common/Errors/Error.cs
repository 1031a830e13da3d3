namespace Freeside.Features.Common.Errors;

/// <summary>
/// An expected failure, returned as a value. Each capability declares its own errors as small
/// records deriving from this; <see cref="ProblemMapping"/> turns them into RFC 9457 problems.
/// </summary>
/// <param name="Kind">Decides the HTTP status.</param>
/// <param name="Type">Stable slug of the problem type URI; never reworded once published.</param>
/// <param name="Title">Short, stable summary of the problem type.</param>
/// <param name="Detail">What went wrong this time, safe to show the caller.</param>
public abstract record Error(ErrorKind Kind, string Type, string Title, string Detail)
{
    /// <summary>Extra members for the problem document (e.g. the conflicting field).</summary>
    public virtual IReadOnlyDictionary<string, object?> Extensions { get; } = new Dictionary<string, object?>();
}

public enum ErrorKind
{
    Invalid,
    Unauthorized,
    PaymentRequired,
    Forbidden,
    NotFound,
    Conflict,
    TooManyRequests,
    Unavailable,
    Timeout,
    Internal,

    /// <summary>An upstream service (a payment provider) failed or answered nonsense: 502.</summary>
    BadGateway,
}

/// <summary>One or more fields failed validation; mapped to a 400 ValidationProblem.</summary>
public sealed record ValidationFailed(IReadOnlyDictionary<string, string[]> Errors)
    : Error(ErrorKind.Invalid, "validation-failed", "One or more fields are invalid.",
        string.Join(" ", Errors.SelectMany(e => e.Value)));

public sealed record NotFound(string What, string Key)
    : Error(ErrorKind.NotFound, "not-found", "The resource was not found.", $"No {What} '{Key}' exists.");

/// <summary>A unique constraint refused the write: the thing already exists.</summary>
public sealed record AlreadyExists(string What, string Detail)
    : Error(ErrorKind.Conflict, "already-exists", "The resource already exists.", Detail);

public sealed record Unauthenticated(string Detail)
    : Error(ErrorKind.Unauthorized, "unauthenticated", "Authentication is required.", Detail);

public sealed record AccessDenied(string Detail)
    : Error(ErrorKind.Forbidden, "forbidden", "You may not do this.", Detail);

/// <summary>PostgreSQL cannot be reached; the request did nothing and may be sent again after <c>Retry-After</c> (a write with its idempotency key).</summary>
public sealed record DatabaseUnavailable()
    : Error(ErrorKind.Unavailable, "database-unavailable", "The database is unavailable.",
        "The service cannot reach its database right now. Retry after the time in Retry-After; repeat a write with the same idempotency key.");
