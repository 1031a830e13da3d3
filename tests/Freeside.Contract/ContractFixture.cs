using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Freeside.Contract;

/// <summary>Makes wire documents comparable: stable indentation, volatile values replaced by placeholders.</summary>
public static partial class WireShape
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Normalize(string json)
    {
        var node = JsonNode.Parse(json);
        Scrub(node);
        return node!.ToJsonString(Indented).ReplaceLineEndings("\n");
    }

    private static void Scrub(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj.ToList())
                {
                    if (value is JsonValue v && v.TryGetValue<string>(out var text))
                    {
                        if (key is "created_at" or "expires_at" or "checked_at" || Timestamp().IsMatch(text))
                        {
                            obj[key] = "<timestamp>";
                        }
                        else if (key is "trace_id" or "traceId" || Uuid().IsMatch(text))
                        {
                            obj[key] = "<id>";
                        }
                    }
                    else
                    {
                        Scrub(value);
                    }
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    Scrub(item);
                }

                break;
            default:
                break;
        }
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")]
    private static partial Regex Timestamp();

    [GeneratedRegex(@"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    private static partial Regex Uuid();
}
