using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Freeside.Features.Payments;

/// <summary>
/// Checks <c>x-nowpayments-sig</c>: hex HMAC-SHA512 keyed with NOWPAYMENTS_IPN_SECRET. NOWPayments
/// signs the body re-serialised with its keys sorted (their Node example: JSON.stringify of a sorted
/// object), but their own examples disagree about nesting, so the signature over the raw bytes is
/// accepted too. Both candidates are always computed and compared in constant time.
/// </summary>
public sealed class IpnVerifier(string? secret)
{
    public const string HeaderName = "x-nowpayments-sig";

    private readonly byte[]? _key = secret is null ? null : Encoding.UTF8.GetBytes(secret);

    public bool Verify(ReadOnlySpan<byte> body, string? signatureHex)
    {
        if (_key is null || signatureHex is null || !TryDecodeHex(signatureHex.Trim(), out var presented))
        {
            return false;
        }

        var raw = HMACSHA512.HashData(_key, body);
        var rawMatches = CryptographicOperations.FixedTimeEquals(raw, presented);
        var canonical = IpnCanonicalJson.TryWrite(body);
        var canonicalMatches = canonical is not null
            && CryptographicOperations.FixedTimeEquals(HMACSHA512.HashData(_key, canonical), presented);
        return rawMatches | canonicalMatches;
    }

    private static bool TryDecodeHex(string hex, out byte[] bytes)
    {
        bytes = [];
        if (hex.Length != HMACSHA512.HashSizeInBytes * 2 || !hex.All(char.IsAsciiHexDigit))
        {
            return false;
        }

        bytes = Convert.FromHexString(hex);
        return true;
    }
}

/// <summary>
/// The body as JavaScript's <c>JSON.stringify</c> writes it after sorting every object's keys by
/// UTF-16 code units: compact, numbers exactly as received (never through a double, which would
/// turn 0.10 into 0.1 and break the HMAC), strings escaped as JSON.stringify escapes them
/// (only quote, backslash, control characters and lone surrogates; non-ASCII stays as is).
/// </summary>
public static class IpnCanonicalJson
{
    /// <summary>The canonical UTF-8 bytes, or null when the body is not JSON.</summary>
    public static byte[]? TryWrite(ReadOnlySpan<byte> body)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            return null;
        }

        using (document)
        {
            var text = new StringBuilder(body.Length);
            Write(document.RootElement, text);
            return Encoding.UTF8.GetBytes(text.ToString());
        }
    }

    private static void Write(JsonElement element, StringBuilder text)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                // JSON.parse keeps the last of duplicate keys.
                var members = new SortedDictionary<string, JsonElement>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    members[Unescape(property)] = property.Value;
                }

                text.Append('{');
                var first = true;
                foreach (var (name, value) in members)
                {
                    if (!first)
                    {
                        text.Append(',');
                    }

                    first = false;
                    Quote(name, text);
                    text.Append(':');
                    Write(value, text);
                }

                text.Append('}');
                break;
            case JsonValueKind.Array:
                text.Append('[');
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (index++ > 0)
                    {
                        text.Append(',');
                    }

                    Write(item, text);
                }

                text.Append(']');
                break;
            case JsonValueKind.String:
                Quote(UnescapeRaw(element.GetRawText()), text);
                break;
            default:
                // Numbers, true, false, null: the literal as received.
                text.Append(element.GetRawText());
                break;
        }
    }

    private static string Unescape(JsonProperty property)
    {
        // The raw text of a property is "name":value; the name token ends at the first unescaped quote.
        var raw = property.ToString();
        var end = 1;
        while (raw[end] != '"')
        {
            end += raw[end] == '\\' ? 2 : 1;
        }

        return UnescapeRaw(raw[..(end + 1)]);
    }

    /// <summary>
    /// Decodes a quoted JSON string token by hand, because System.Text.Json refuses lone surrogates
    /// ("\ud800") that JavaScript accepts and JSON.stringify writes back escaped.
    /// </summary>
    private static string UnescapeRaw(string quoted)
    {
        var result = new StringBuilder(quoted.Length);
        for (var i = 1; i < quoted.Length - 1; i++)
        {
            var c = quoted[i];
            if (c != '\\')
            {
                result.Append(c);
                continue;
            }

            var e = quoted[++i];
            switch (e)
            {
                case 'b': result.Append('\b'); break;
                case 'f': result.Append('\f'); break;
                case 'n': result.Append('\n'); break;
                case 'r': result.Append('\r'); break;
                case 't': result.Append('\t'); break;
                case 'u':
                    result.Append((char)Convert.ToUInt16(quoted.Substring(i + 1, 4), 16));
                    i += 4;
                    break;
                default: result.Append(e); break;
            }
        }

        return result.ToString();
    }

    private static void Quote(string value, StringBuilder text)
    {
        text.Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                default:
                    if (c < 0x20)
                    {
                        AppendUnicodeEscape(c, text);
                    }
                    else if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                    {
                        text.Append(c).Append(value[++i]);
                    }
                    else if (char.IsSurrogate(c))
                    {
                        AppendUnicodeEscape(c, text);
                    }
                    else
                    {
                        text.Append(c);
                    }

                    break;
            }
        }

        text.Append('"');
    }

    private static void AppendUnicodeEscape(char c, StringBuilder text) =>
        text.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
}
