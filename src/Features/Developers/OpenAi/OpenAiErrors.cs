using System.Globalization;
using Freeside.Features.Common.Errors;
using Microsoft.AspNetCore.Http;

namespace Freeside.Features.Developers.OpenAi;

/// <summary>The error body OpenAI's SDKs parse.</summary>
public sealed record OpenAiError(string Message, string Type, string? Param, string? Code);

public sealed record OpenAiErrorBody(OpenAiError Error);

/// <summary>
/// Freeside's error values as OpenAI answers them (status and <c>{"error":{message,type,param,code}}</c>), so
/// an SDK raises the exception it would for OpenAI: 401 invalid key, 403, 404 unknown model, 429 rate limit,
/// and a 402 (no credit) as 429 <c>insufficient_quota</c>, as OpenAI does.
/// </summary>
public static class OpenAiErrors
{
    public static IResult ToOpenAi(this Error error, HttpResponse response)
    {
        var (status, type, code, param) = error switch
        {
            ValidationFailed invalid => (400, "invalid_request_error", (string?)null, invalid.Errors.Keys.FirstOrDefault()),
            InvalidApiKey => (401, "invalid_request_error", "invalid_api_key", null),
            UnknownModel or NotFound { What: "token" or "community" } => (404, "invalid_request_error", "model_not_found", "model"),
            ApiKeyRateLimited limited => (429, limited.Limit == "tokens_per_day" ? "tokens" : "requests", "rate_limit_exceeded", null),
            _ => error.Kind switch
            {
                ErrorKind.Invalid => (400, "invalid_request_error", error.Type, null),
                ErrorKind.Unauthorized => (401, "invalid_request_error", "invalid_api_key", null),
                ErrorKind.PaymentRequired => (429, "insufficient_quota", "insufficient_quota", null),
                ErrorKind.Forbidden => (403, "permission_error", error.Type, "model"),
                ErrorKind.NotFound => (404, "invalid_request_error", error.Type, null),
                ErrorKind.Conflict => (409, "invalid_request_error", error.Type, null),
                ErrorKind.TooManyRequests => (429, "requests", "rate_limit_exceeded", null),
                ErrorKind.Timeout => (504, "server_error", error.Type, null),
                ErrorKind.Unavailable or ErrorKind.BadGateway => (503, "server_error", error.Type, null),
                _ => (500, "server_error", error.Type, null),
            },
        };

        if (status == 429 && error.Extensions.TryGetValue("retry_after", out var retry))
        {
            response.Headers.RetryAfter = Text(retry);
            response.Headers["X-RateLimit-Limit"] = Text(error.Extensions.GetValueOrDefault("limit"));
            response.Headers["X-RateLimit-Remaining"] = Text(error.Extensions.GetValueOrDefault("remaining"));
            response.Headers["X-RateLimit-Reset"] = Text(error.Extensions.GetValueOrDefault("reset"));
        }

        var message = error.Kind == ErrorKind.PaymentRequired
            ? "You exceeded your current quota: your developer account's credits cannot cover this call. " + error.Detail
            : error.Detail;
        return TypedResults.Json(new OpenAiErrorBody(new OpenAiError(message, type, param, code)), OpenAiChatSink.Json, statusCode: status);
    }

    private static string Text(object? value) => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
}
