using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Freeside.Web;

/// <summary>
/// Bad requests that the framework detects (malformed JSON, wrong content type, oversized body,
/// unbindable parameters) become 4xx problems naming the field and the expected JSON type; an
/// unreachable database is a 503 with Retry-After; anything else is a bug: logged, and a 500.
/// Every problem comes from <see cref="ProblemMapping"/>.
/// </summary>
internal sealed partial class FreesideExceptionHandler(IProblemDetailsService problems, ILogger<FreesideExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ProblemDetails problem;
        if (exception is BadHttpRequestException bad)
        {
            // The exception handler clears the endpoint before it runs; the feature keeps the one that failed.
            var endpoint = httpContext.Features.Get<IExceptionHandlerFeature>()?.Endpoint ?? httpContext.GetEndpoint();
            problem = RequestProblems.Describe(bad, endpoint?.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType);
        }
        else if (DatabaseFailures.IsUnavailable(exception))
        {
            LogDatabaseUnavailable(logger, httpContext.Request.Method, httpContext.Request.Path, exception.GetType().Name, exception.Message);
            // Pooled connections to a server that went away are dead; drop the idle ones so requests
            // reconnect as soon as PostgreSQL is back instead of each meeting one broken connection.
            httpContext.RequestServices.GetRequiredService<NpgsqlDataSource>().Clear();
            httpContext.Response.Headers.RetryAfter = DatabaseFailures.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            problem = ProblemMapping.ToProblemDetails(new DatabaseUnavailable());
        }
        else
        {
            LogUnhandled(logger, exception, httpContext.Request.Method, httpContext.Request.Path);
            problem = ProblemMapping.ForStatus(StatusCodes.Status500InternalServerError, "The error has been logged.");
        }

        httpContext.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Error, Message = "Unhandled exception for {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Database unavailable for {Method} {Path}: {ExceptionType} {Reason}")]
    private static partial void LogDatabaseUnavailable(ILogger logger, string method, string path, string exceptionType, string reason);
}

/// <summary>
/// Turns what ASP.NET and System.Text.Json say about a bad request into a problem that names the
/// field as it is on the wire and the JSON type expected there, never a CLR type.
/// </summary>
internal static partial class RequestProblems
{
    /// <param name="bodyType">The endpoint's body type: what a JSON path is checked against for the expected type.</param>
    public static ProblemDetails Describe(BadHttpRequestException bad, Type? bodyType)
    {
        for (Exception? inner = bad.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is JsonException json)
            {
                return FromJson(json, bodyType);
            }
        }

        if (bad.StatusCode == StatusCodes.Status400BadRequest)
        {
            if (bad.Message.StartsWith("Implicit body inferred", StringComparison.Ordinal)
                || (bad.Message.StartsWith("Required parameter", StringComparison.Ordinal) && bad.Message.EndsWith("from body.", StringComparison.Ordinal)))
            {
                return Field("body", "The request body is required: send a JSON object.");
            }

            if (Parameter().Match(bad.Message) is { Success: true } parameter)
            {
                var name = SnakeCaseNames.ToSnakeCase(parameter.Groups["name"].Value);
                return bad.Message.StartsWith("Required parameter", StringComparison.Ordinal)
                    ? Field(name, $"{name} is required.")
                    : Field(name, $"{name} must be {Expected(parameter.Groups["type"].Value).Replace(" (a JSON number, not a string)", "", StringComparison.Ordinal)}.");
            }
        }

        return ProblemMapping.ForStatus(bad.StatusCode, bad.StatusCode switch
        {
            StatusCodes.Status415UnsupportedMediaType => "Send the body as JSON with the header Content-Type: application/json.",
            _ => WithoutClrTypes(bad.Message),
        });
    }

    private static ProblemDetails FromJson(JsonException json, Type? bodyType)
    {
        var path = json.Path is null or "$" ? "body" : json.Path.StartsWith("$.", StringComparison.Ordinal) ? json.Path[2..] : json.Path;
        var message = json.Message;
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        message = cut > 0 ? message[..cut] : message;
        if (ConvertedTo().IsMatch(message))
        {
            // The message names the CLR type being built (for a record, the record itself), so the
            // expected type comes from the body type's member at the path instead.
            return Field(path, $"{path} must be {(TypeAt(bodyType, json.Path) is { } type ? Expected(type) : "of another JSON type")}.");
        }

        if (Duplicate().Match(message) is { Success: true } duplicate)
        {
            var name = duplicate.Groups["name"].Value;
            return Field(name, $"{name} appears more than once; give each JSON property once.");
        }

        // Syntax errors: the reader names where it stopped.
        return Field(path, path == "body" ? $"The JSON body is invalid: {WithoutClrTypes(message)}" : $"{path}: {WithoutClrTypes(message)}");
    }

    /// <summary>The CLR type the body reads at a JSON path ($.a.b[0]), following snake_case member names.</summary>
    private static Type? TypeAt(Type? type, string? path)
    {
        if (type is null || path is null || !path.StartsWith('$'))
        {
            return null;
        }

        foreach (var segment in JsonPathSegment().Matches(path[1..]).Select(m => m.Groups["name"].Success ? m.Groups["name"].Value : null))
        {
            if (segment is null)
            {
                type = ElementType(type);
            }
            else
            {
                type = type?.GetProperties().FirstOrDefault(p => SnakeCaseNames.ToSnakeCase(p.Name) == segment)?.PropertyType;
            }

            if (type is null)
            {
                return null;
            }
        }

        return type;
    }

    private static Type? ElementType(Type type) =>
        type.IsArray ? type.GetElementType()
        : type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];

    private static ProblemDetails Field(string field, string message) =>
        ProblemMapping.ToProblemDetails(new ValidationFailed(new Dictionary<string, string[]> { [field] = [message] }));

    private static string Expected(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type.IsEnum)
        {
            return "one of " + string.Join(", ", Enum.GetNames(type).Select(n => SnakeCaseNames.ToSnakeCase(n)));
        }

        return type != typeof(string) && ElementType(type) is not null ? "an array" : Expected(type.Name);
    }

    /// <summary>The JSON (or query-string) shape a CLR type reads from, as a client would say it.</summary>
    private static string Expected(string clrType)
    {
        var type = clrType.Trim();
        if (NullableOf().Match(type) is { Success: true } nullable)
        {
            type = nullable.Groups["inner"].Value;
        }

        type = type.TrimEnd('?');
        var simple = type[(type.LastIndexOfAny(['.', '+']) + 1)..];
        return simple switch
        {
            "Int64" or "long" or "Int32" or "int" or "Int16" or "short" or "UInt64" or "ulong" or "UInt32" or "uint" => "an integer (a JSON number, not a string)",
            "Decimal" or "decimal" or "Double" or "double" or "Single" or "float" => "a number",
            "String" or "string" => "a string",
            "Boolean" or "bool" => "true or false",
            "Guid" => "a UUID string",
            "DateTimeOffset" or "DateTime" => "an RFC 3339 timestamp string",
            _ when simple.EndsWith("[]", StringComparison.Ordinal) || simple.StartsWith("List", StringComparison.Ordinal)
                || simple.StartsWith("IReadOnlyList", StringComparison.Ordinal) => "an array",
            _ => "a JSON object",
        };
    }

    private static string WithoutClrTypes(string message) => ClrType().Replace(message, "the expected shape");

    [GeneratedRegex("""parameter "(?<type>[^"]+) (?<name>[A-Za-z_][A-Za-z0-9_]*)"(?: from "(?<value>[^"]*)")?""", RegexOptions.CultureInvariant)]
    private static partial Regex Parameter();

    [GeneratedRegex(@"could not be converted to ", RegexOptions.CultureInvariant)]
    private static partial Regex ConvertedTo();

    [GeneratedRegex(@"\.(?<name>[^.\[]+)|\[[^\]]*\]", RegexOptions.CultureInvariant)]
    private static partial Regex JsonPathSegment();

    [GeneratedRegex("Duplicate property '(?<name>[^']+)'", RegexOptions.CultureInvariant)]
    private static partial Regex Duplicate();

    [GeneratedRegex(@"^(?:System\.)?Nullable(?:`1)?[<\[]+(?<inner>[^>\]]+)[>\]]+$", RegexOptions.CultureInvariant)]
    private static partial Regex NullableOf();

    [GeneratedRegex(@"\b(?:System|Freeside|Microsoft)(?:\.[\w`+]+)+(?:\[[^\]]*\])?", RegexOptions.CultureInvariant)]
    private static partial Regex ClrType();
}
