namespace Freeside.Features.Common.Ethereum;

/// <summary>The pieces of the RFC 3986 grammar that EIP-4361 refers to, as exact recognisers.</summary>
internal static class Rfc3986
{
    public static bool IsUnreserved(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~';

    public static bool IsSubDelim(char c) => c is '!' or '$' or '&' or '\'' or '(' or ')' or '*' or '+' or ',' or ';' or '=';

    public static bool IsGenDelim(char c) => c is ':' or '/' or '?' or '#' or '[' or ']' or '@';

    public static bool IsReserved(char c) => IsGenDelim(c) || IsSubDelim(c);

    /// <summary>scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )</summary>
    public static bool IsScheme(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty || !char.IsAsciiLetter(text[0]))
        {
            return false;
        }

        foreach (var c in text[1..])
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('+' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>URI = scheme ":" hier-part [ "?" query ] [ "#" fragment ]</summary>
    public static bool IsUri(ReadOnlySpan<char> text)
    {
        var colon = text.IndexOf(':');
        if (colon <= 0 || !IsScheme(text[..colon]))
        {
            return false;
        }

        var rest = text[(colon + 1)..];
        ReadOnlySpan<char> fragment = default;
        var hash = rest.IndexOf('#');
        if (hash >= 0)
        {
            fragment = rest[(hash + 1)..];
            rest = rest[..hash];
        }

        ReadOnlySpan<char> query = default;
        var question = rest.IndexOf('?');
        if (question >= 0)
        {
            query = rest[(question + 1)..];
            rest = rest[..question];
        }

        if (!IsQueryOrFragment(query) || !IsQueryOrFragment(fragment))
        {
            return false;
        }

        if (rest.StartsWith("//"))
        {
            rest = rest[2..];
            var pathStart = rest.IndexOf('/');
            var authority = pathStart < 0 ? rest : rest[..pathStart];
            var path = pathStart < 0 ? default : rest[pathStart..];
            return IsAuthority(authority, requireHost: false) && IsPath(path);
        }

        // path-absolute / path-rootless / path-empty: the "//" case is excluded above.
        return IsPath(rest);
    }

    /// <summary>authority = [ userinfo "@" ] host [ ":" port ]</summary>
    public static bool IsAuthority(ReadOnlySpan<char> text, bool requireHost)
    {
        var at = text.IndexOf('@');
        if (at >= 0)
        {
            if (!IsUserInfo(text[..at]))
            {
                return false;
            }

            text = text[(at + 1)..];
        }

        ReadOnlySpan<char> host;
        ReadOnlySpan<char> afterHost;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']');
            if (close < 0 || !IsIpLiteralBody(text[1..close]))
            {
                return false;
            }

            host = text[..(close + 1)];
            afterHost = text[(close + 1)..];
        }
        else
        {
            var colon = text.IndexOf(':');
            host = colon < 0 ? text : text[..colon];
            afterHost = colon < 0 ? default : text[colon..];
            if (!IsRegName(host))
            {
                return false;
            }
        }

        if (requireHost && host.IsEmpty)
        {
            return false;
        }

        if (afterHost.IsEmpty)
        {
            return true;
        }

        return afterHost[0] == ':' && IsAllDigits(afterHost[1..]);
    }

    /// <summary>pchar = unreserved / pct-encoded / sub-delims / ":" / "@"</summary>
    public static bool IsPcharSequence(ReadOnlySpan<char> text) => Scan(text, static c => c is ':' or '@');

    private static bool IsPath(ReadOnlySpan<char> text) => Scan(text, static c => c is ':' or '@' or '/');

    private static bool IsQueryOrFragment(ReadOnlySpan<char> text) => Scan(text, static c => c is ':' or '@' or '/' or '?');

    private static bool IsUserInfo(ReadOnlySpan<char> text) => Scan(text, static c => c == ':');

    private static bool IsRegName(ReadOnlySpan<char> text) => Scan(text, static _ => false);

    // unreserved / pct-encoded / sub-delims, plus whatever the caller's rule adds.
    private static bool Scan(ReadOnlySpan<char> text, Func<char, bool> extra)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '%')
            {
                if (i + 2 >= text.Length || !char.IsAsciiHexDigit(text[i + 1]) || !char.IsAsciiHexDigit(text[i + 2]))
                {
                    return false;
                }

                i += 2;
                continue;
            }

            if (!IsUnreserved(c) && !IsSubDelim(c) && !extra(c))
            {
                return false;
            }
        }

        return true;
    }

    // IP-literal = "[" ( IPv6address / IPvFuture ) "]"
    private static bool IsIpLiteralBody(ReadOnlySpan<char> text)
    {
        if (text.Length > 0 && text[0] is 'v' or 'V')
        {
            // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
            var dot = text.IndexOf('.');
            return dot > 1
                && IsAllHex(text[1..dot])
                && dot + 1 < text.Length
                && Scan(text[(dot + 1)..], static c => c == ':')
                && !text[(dot + 1)..].Contains('%');
        }

        return IsIPv6(text);
    }

    private static bool IsIPv6(ReadOnlySpan<char> text)
    {
        var doubleColon = text.IndexOf("::");
        if (doubleColon >= 0)
        {
            if (text[(doubleColon + 2)..].Contains("::", StringComparison.Ordinal))
            {
                return false;
            }

            var head = text[..doubleColon];
            var tail = text[(doubleColon + 2)..];
            return CountGroups(head, allowIPv4: false, out var headGroups)
                && CountGroups(tail, allowIPv4: true, out var tailGroups)
                && headGroups + tailGroups <= 7;
        }

        return CountGroups(text, allowIPv4: true, out var groups) && groups == 8;
    }

    // h16 *( ":" h16 ), the last piece may be an IPv4 address worth two groups. Empty is zero groups.
    private static bool CountGroups(ReadOnlySpan<char> text, bool allowIPv4, out int groups)
    {
        groups = 0;
        if (text.IsEmpty)
        {
            return true;
        }

        while (true)
        {
            var colon = text.IndexOf(':');
            var piece = colon < 0 ? text : text[..colon];
            if (colon < 0 && allowIPv4 && piece.Contains('.'))
            {
                if (!IsIPv4(piece))
                {
                    return false;
                }

                groups += 2;
                return true;
            }

            if (piece.IsEmpty || piece.Length > 4 || !IsAllHex(piece))
            {
                return false;
            }

            groups++;
            if (colon < 0)
            {
                return true;
            }

            text = text[(colon + 1)..];
        }
    }

    // dec-octet "." dec-octet "." dec-octet "." dec-octet, no leading zeros.
    private static bool IsIPv4(ReadOnlySpan<char> text)
    {
        for (var octet = 0; octet < 4; octet++)
        {
            var dot = text.IndexOf('.');
            if ((dot < 0) != (octet == 3))
            {
                return false;
            }

            var part = dot < 0 ? text : text[..dot];
            if (part.IsEmpty || part.Length > 3 || !IsAllDigits(part) || (part.Length > 1 && part[0] == '0'))
            {
                return false;
            }

            var value = 0;
            foreach (var c in part)
            {
                value = (value * 10) + (c - '0');
            }

            if (value > 255)
            {
                return false;
            }

            text = dot < 0 ? default : text[(dot + 1)..];
        }

        return true;
    }

    private static bool IsAllDigits(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsAllHex(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
