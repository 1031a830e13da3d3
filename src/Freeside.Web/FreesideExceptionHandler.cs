using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Freeside.Web;

/// <summary>
/// Bad requests that the framework detects (malformed JSON, wrong content type, oversized body)
/// become 4xx problems naming the fault; anything else is a bug: logged, and a 500 problem.
/// </summary>
internal sealed partial class FreesideExceptionHandler(IProblemDetailsService problems, ILogger<FreesideExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ProblemDetails problem;
        if (exception is BadHttpRequestException bad)
        {
            problem = new ProblemDetails
            {
                Status = bad.StatusCode,
                Type = "https://freeside.dev/problems/" + bad.StatusCode switch
                {
                    StatusCodes.Status413PayloadTooLarge => "body-too-large",
                    StatusCodes.Status415UnsupportedMediaType => "unsupported-media-type",
                    _ => "malformed-request",
                },
                Title = bad.StatusCode switch
                {
                    StatusCodes.Status413PayloadTooLarge => "The request body is too large.",
                    StatusCodes.Status415UnsupportedMediaType => "The request body must be application/json.",
                    _ => "The request could not be read.",
                },
                Detail = Describe(bad),
            };
        }
        else
        {
            LogUnhandled(logger, exception, httpContext.Request.Method, httpContext.Request.Path);
            problem = new ProblemDetails
            {
                Status = StatusCodes.Status500InternalServerError,
                Type = "https://freeside.dev/problems/internal",
                Title = "An unexpected error occurred.",
                Detail = "The error has been logged.",
            };
        }

        httpContext.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    private static string Describe(BadHttpRequestException bad)
    {
        for (Exception? inner = bad.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is JsonException json)
            {
                var message = json.Message;
                var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
                return $"The JSON body is invalid at '{json.Path ?? "$"}': {(cut > 0 ? message[..cut] : message)}";
            }
        }

        return bad.StatusCode switch
        {
            StatusCodes.Status415UnsupportedMediaType => "Send the body as JSON with the header Content-Type: application/json.",
            _ => bad.Message,
        };
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Error, Message = "Unhandled exception for {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string method, string path);
}
