using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Freeside.Features.Common.Errors;

/// <summary>The one place where expected failures become RFC 9457 problem documents.</summary>
public static class ProblemMapping
{
    public const string TypeBase = "https://freeside.dev/problems/";

    public static int StatusFor(ErrorKind kind) => kind switch
    {
        ErrorKind.Invalid => StatusCodes.Status400BadRequest,
        ErrorKind.Unauthorized => StatusCodes.Status401Unauthorized,
        ErrorKind.PaymentRequired => StatusCodes.Status402PaymentRequired,
        ErrorKind.Forbidden => StatusCodes.Status403Forbidden,
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.Conflict => StatusCodes.Status409Conflict,
        ErrorKind.TooManyRequests => StatusCodes.Status429TooManyRequests,
        ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        ErrorKind.Timeout => StatusCodes.Status504GatewayTimeout,
        ErrorKind.BadGateway => StatusCodes.Status502BadGateway,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static ProblemDetails ToProblemDetails(Error error)
    {
        var problem = error is ValidationFailed validation
            ? new HttpValidationProblemDetails(validation.Errors.ToDictionary(e => e.Key, e => e.Value))
            : new ProblemDetails();
        problem.Type = TypeBase + error.Type;
        problem.Title = error.Title;
        problem.Status = StatusFor(error.Kind);
        problem.Detail = error.Detail;
        foreach (var (key, value) in error.Extensions)
        {
            problem.Extensions[key] = value;
        }

        return problem;
    }

    public static ProblemHttpResult ToProblem(this Error error) => TypedResults.Problem(ToProblemDetails(error));

    /// <summary>
    /// A problem for a status the framework decides by itself (no route, wrong method, unreadable or
    /// oversized request), in the same type scheme as every <see cref="Error"/>.
    /// </summary>
    public static ProblemDetails ForStatus(int status, string? detail = null)
    {
        var (slug, title) = FrameworkProblem(status);
        return new ProblemDetails { Type = TypeBase + slug, Title = title, Status = status, Detail = detail };
    }

    /// <summary>Gives a problem the framework built (status code pages, ASP.NET defaults) Freeside's type and title.</summary>
    public static void Normalize(ProblemDetails problem)
    {
        if (problem.Type is { } type && type.StartsWith(TypeBase, StringComparison.Ordinal))
        {
            return;
        }

        var (slug, title) = FrameworkProblem(problem.Status ?? StatusCodes.Status500InternalServerError);
        problem.Type = TypeBase + slug;
        problem.Title = title;
    }

    private static (string Slug, string Title) FrameworkProblem(int status) => status switch
    {
        StatusCodes.Status400BadRequest => ("malformed-request", "The request could not be read."),
        StatusCodes.Status401Unauthorized => ("unauthenticated", "Authentication is required."),
        StatusCodes.Status403Forbidden => ("forbidden", "You may not do this."),
        StatusCodes.Status404NotFound => ("not-found", "The resource was not found."),
        StatusCodes.Status405MethodNotAllowed => ("method-not-allowed", "The resource does not support this method."),
        StatusCodes.Status406NotAcceptable => ("not-acceptable", "The resource cannot answer in an accepted media type."),
        StatusCodes.Status408RequestTimeout => ("request-timeout", "The request was not received in time."),
        StatusCodes.Status411LengthRequired => ("length-required", "The request must declare its length."),
        StatusCodes.Status413PayloadTooLarge => ("body-too-large", "The request body is too large."),
        StatusCodes.Status414UriTooLong => ("uri-too-long", "The request URI is too long."),
        StatusCodes.Status415UnsupportedMediaType => ("unsupported-media-type", "The request body must be application/json."),
        StatusCodes.Status429TooManyRequests => ("too-many-requests", "Too many requests."),
        StatusCodes.Status431RequestHeaderFieldsTooLarge => ("headers-too-large", "The request headers are too large."),
        StatusCodes.Status503ServiceUnavailable => ("service-unavailable", "The service is unavailable."),
        >= 400 and < 500 => ("bad-request", "The request was refused."),
        _ => ("internal", "An unexpected error occurred."),
    };
}
