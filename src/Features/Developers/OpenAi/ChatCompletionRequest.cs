using System.Text.Json;
using System.Text.Json.Serialization;
using Freeside.Features.Common.Errors;
using Freeside.Features.Inference;
using Microsoft.AspNetCore.Http;

namespace Freeside.Features.Developers.OpenAi;

/// <summary>
/// The body of OpenAI's <c>POST /v1/chat/completions</c>, as far as Freeside uses it. Read by hand so a
/// body that is not JSON gets OpenAI's error shape, not ASP.NET's. Fields Freeside does not use are ignored,
/// as OpenAI-compatible servers do; <c>temperature</c>, <c>stop</c> and <c>user</c> are checked but finn's
/// contract has no field for them.
/// </summary>
public sealed record ChatCompletionRequest(
    string? Model,
    IReadOnlyList<ChatCompletionRequest.Message>? Messages,
    int? MaxTokens,
    int? MaxCompletionTokens,
    double? Temperature,
    JsonElement? Stop,
    string? User,
    bool? Stream,
    ChatCompletionRequest.Options? StreamOptions)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
    };

    /// <summary><paramref name="Content"/> is a string or an array of <c>{type: "text", text}</c> parts.</summary>
    public sealed record Message(string? Role, JsonElement? Content);

    public sealed record Options(bool? IncludeUsage);

    public static async Task<(ChatCompletionRequest? Body, Error? Invalid)> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        try
        {
            var body = await JsonSerializer.DeserializeAsync<ChatCompletionRequest>(request.Body, Json, cancellationToken);
            if (body is null)
            {
                return (null, Invalid("body", "The body must be a JSON object."));
            }

            if (body.Messages?.Select(m => m.Content).FirstOrDefault(c => Text(c) is null) is { } bad)
            {
                return (null, Invalid("messages", "Each message's content must be a string or an array of text parts."));
            }

            if (body.Stop is { } stop && stop.ValueKind is not (JsonValueKind.String or JsonValueKind.Array or JsonValueKind.Null)
                || body.Stop is { ValueKind: JsonValueKind.Array } list && list.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
            {
                return (null, Invalid("stop", "stop must be a string or an array of strings."));
            }

            return (body, null);
        }
        catch (JsonException e)
        {
            return (null, Invalid(e.Path is { Length: > 2 } path ? path.TrimStart('$', '.') : "body", "The body is not valid JSON for a chat completion request."));
        }
    }

    public IReadOnlyList<ChatTurn>? Turns() => Messages?.Select(m => new ChatTurn(m.Role ?? "", Text(m.Content) ?? "")).ToList();

    public IReadOnlyList<string>? StopList() => Stop switch
    {
        { ValueKind: JsonValueKind.String } one => [one.GetString()!],
        { ValueKind: JsonValueKind.Array } many => [.. many.EnumerateArray().Select(e => e.GetString()!)],
        _ => null,
    };

    private static string? Text(JsonElement? content) => content switch
    {
        { ValueKind: JsonValueKind.String } text => text.GetString(),
        { ValueKind: JsonValueKind.Array } parts when parts.EnumerateArray().All(IsTextPart) =>
            string.Concat(parts.EnumerateArray().Select(p => p.GetProperty("text").GetString())),
        _ => null,
    };

    private static bool IsTextPart(JsonElement part) =>
        part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
        && type.GetString() == "text" && part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String;

    private static ValidationFailed Invalid(string field, string message) => new(new Dictionary<string, string[]> { [field] = [message] });
}
