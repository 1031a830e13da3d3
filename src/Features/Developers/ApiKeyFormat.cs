using System.Security.Cryptography;

namespace Freeside.Features.Developers;

/// <summary>A key as presented: <c>lf_live_&lt;id&gt;_&lt;secret&gt;</c> or <c>lf_test_…</c>.</summary>
public readonly record struct ParsedApiKey(string Id, bool Live, string Secret);

/// <summary>
/// The key format: an id of 12 base32 upper-case characters (public, the database's lookup key) and a
/// secret of 32 base62 characters (about 190 bits), never stored. Parsing is exact, so anything else —
/// another prefix, a lower-case id, a wrong length, a 10 KB header — is refused before any lookup.
/// </summary>
public static class ApiKeyFormat
{
    public const int IdLength = 12;
    public const int SecretLength = 32;
    public const string LivePrefix = "lf_live_";
    public const string TestPrefix = "lf_test_";
    public const int Length = 8 + IdLength + 1 + SecretLength;

    private const string Base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    private const string Base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static string NewId() => RandomNumberGenerator.GetString(Base32, IdLength);

    public static string NewSecret() => RandomNumberGenerator.GetString(Base62, SecretLength);

    public static string Format(string id, bool live, string secret) => (live ? LivePrefix : TestPrefix) + id + "_" + secret;

    public static bool TryParse(ReadOnlySpan<char> key, out ParsedApiKey parsed)
    {
        parsed = default;
        if (key.Length != Length)
        {
            return false;
        }

        bool live;
        if (key.StartsWith(LivePrefix, StringComparison.Ordinal))
        {
            live = true;
        }
        else if (key.StartsWith(TestPrefix, StringComparison.Ordinal))
        {
            live = false;
        }
        else
        {
            return false;
        }

        var id = key.Slice(8, IdLength);
        var secret = key[(8 + IdLength + 1)..];
        if (key[8 + IdLength] != '_' || !IsId(id) || !IsSecret(secret))
        {
            return false;
        }

        parsed = new ParsedApiKey(new string(id), live, new string(secret));
        return true;
    }

    public static bool IsId(ReadOnlySpan<char> id)
    {
        if (id.Length != IdLength)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (c is not ((>= 'A' and <= 'Z') or (>= '2' and <= '7')))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsSecret(ReadOnlySpan<char> secret)
    {
        foreach (var c in secret)
        {
            if (!char.IsAsciiLetterOrDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
