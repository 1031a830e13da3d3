using Microsoft.Extensions.Http.Logging;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Common.Observability;

/// <summary>
/// Replaces IHttpClientFactory's request logging, which writes the full request URI: providers put
/// API keys in the path of RPC URLs (…/v2/KEY), so outgoing requests are logged by origin only
/// (scheme, host, port), never with user info, path or query.
/// </summary>
public sealed partial class RedactedHttpClientLogger(ILogger<RedactedHttpClientLogger> logger) : IHttpClientLogger
{
    public static string Origin(Uri? uri) => uri is { IsAbsoluteUri: true } ? uri.GetLeftPart(UriPartial.Authority).Replace(uri.UserInfo + "@", "", StringComparison.Ordinal) : "(relative)";

    public object? LogRequestStart(HttpRequestMessage request) => null;

    public void LogRequestStop(object? context, HttpRequestMessage request, HttpResponseMessage response, TimeSpan elapsed) =>
        LogAnswered(logger, request.Method.Method, Origin(request.RequestUri), (int)response.StatusCode, elapsed.TotalMilliseconds);

    public void LogRequestFailed(object? context, HttpRequestMessage request, HttpResponseMessage? response, Exception exception, TimeSpan elapsed) =>
        LogFailed(logger, request.Method.Method, Origin(request.RequestUri), exception.GetType().Name, elapsed.TotalMilliseconds);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Information, Message = "HTTP {Method} {Origin} answered {StatusCode} in {ElapsedMs} ms")]
    private static partial void LogAnswered(ILogger logger, string method, string origin, int statusCode, double elapsedMs);

    // The exception's type only: HttpRequestException messages can quote the URI.
    [LoggerMessage(EventId = 2202, Level = LogLevel.Warning, Message = "HTTP {Method} {Origin} failed ({Error}) after {ElapsedMs} ms")]
    private static partial void LogFailed(ILogger logger, string method, string origin, string error, double elapsedMs);
}
