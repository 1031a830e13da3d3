using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Freeside.Features.Common.Ethereum;

/// <summary>
/// An EIP-4361 (Sign-In with Ethereum) message, only ever obtained from a strict parse of the
/// ABNF or from fields that serialise to text passing that same parse. <see cref="Text"/> is the
/// exact text that was (or is to be) signed.
/// </summary>
public sealed class SiweMessage
{
    /// <summary>EIP-4361 leaves lengths to implementers; 16 KiB holds any real message, ReCap resources included.</summary>
    public const int MaxLength = 16 * 1024;

    public const string SupportedVersion = "1";

    private const string HeaderSuffix = " wants you to sign in with your Ethereum account:";
    private const string UriLabel = "URI: ";
    private const string VersionLabel = "Version: ";
    private const string ChainIdLabel = "Chain ID: ";
    private const string NonceLabel = "Nonce: ";
    private const string IssuedAtLabel = "Issued At: ";
    private const string ExpirationTimeLabel = "Expiration Time: ";
    private const string NotBeforeLabel = "Not Before: ";
    private const string RequestIdLabel = "Request ID: ";
    private const string ResourcesLabel = "Resources:";
    private const string ResourcePrefix = "- ";
    private const int MinNonceLength = 8;

    private SiweMessage(string text, string? scheme, string domain, string address, EthereumAddress parsedAddress)
    {
        Text = text;
        Scheme = scheme;
        Domain = domain;
        Address = address;
        ParsedAddress = parsedAddress;
    }

    public string Text { get; }

    public string? Scheme { get; }

    /// <summary>RFC 3986 authority: host, optionally with userinfo and port.</summary>
    public string Domain { get; }

    /// <summary>The address exactly as written in the message (always valid EIP-55).</summary>
    public string Address { get; }

    public EthereumAddress ParsedAddress { get; }

    /// <summary>Null when the message has no statement line; empty for an empty one.</summary>
    public string? Statement { get; private init; }

    public string Uri { get; private init; } = "";

    public string Version { get; private init; } = SupportedVersion;

    public long ChainId { get; private init; }

    public string Nonce { get; private init; } = "";

    public DateTimeOffset IssuedAt { get; private init; }

    public DateTimeOffset? ExpirationTime { get; private init; }

    public DateTimeOffset? NotBefore { get; private init; }

    public string? RequestId { get; private init; }

    public IReadOnlyList<string> Resources { get; private init; } = [];

    public override string ToString() => Text;

    /// <summary>The timestamp form this library writes: UTC with milliseconds, as JavaScript's toISOString.</summary>
    public static string FormatTimestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static bool TryParse(
        string? text,
        [NotNullWhen(true)] out SiweMessage? message,
        [NotNullWhen(false)] out string? error) =>
        TryParse(text, out message, out error, out _);

    internal static bool TryParse(
        string? text,
        [NotNullWhen(true)] out SiweMessage? message,
        [NotNullWhen(false)] out string? error,
        out bool badChecksum)
    {
        message = null;
        badChecksum = false;
        if (string.IsNullOrEmpty(text))
        {
            error = "The message is empty.";
            return false;
        }

        if (text.Length > MaxLength)
        {
            error = $"The message is longer than {MaxLength} characters.";
            return false;
        }

        var reader = new LineReader(text);
        if (!reader.TryRead(out var line) || !line.EndsWith(HeaderSuffix, StringComparison.Ordinal))
        {
            error = $"Line 1 must end with \"{HeaderSuffix}\".";
            return false;
        }

        var origin = line[..^HeaderSuffix.Length];
        string? scheme = null;
        var schemeEnd = origin.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd >= 0)
        {
            if (!Rfc3986.IsScheme(origin[..schemeEnd]))
            {
                error = "Line 1: the scheme is not an RFC 3986 scheme.";
                return false;
            }

            scheme = new string(origin[..schemeEnd]);
            origin = origin[(schemeEnd + 3)..];
        }

        if (!Rfc3986.IsAuthority(origin, requireHost: true))
        {
            error = "Line 1: the domain is not an RFC 3986 authority.";
            return false;
        }

        if (!reader.TryRead(out line))
        {
            error = "Line 2: the address is missing.";
            return false;
        }

        if (!EthereumAddress.TryParse(line, AddressChecksumPolicy.Required, out var address, out var addressError))
        {
            badChecksum = addressError == AddressParseError.BadChecksum;
            error = badChecksum
                ? "Line 2: the address is not in EIP-55 checksum form."
                : "Line 2: the address is not 0x followed by 40 hex digits.";
            return false;
        }

        var addressText = new string(line);
        if (!reader.TryRead(out line) || !line.IsEmpty)
        {
            error = "Line 3 must be empty.";
            return false;
        }

        // Lines after the address: "" then URI (no statement), "" "" then URI (empty statement),
        // or statement "" then URI.
        string? statement = null;
        if (!reader.TryRead(out line))
        {
            return Truncated(reader, out error);
        }

        if (line.IsEmpty)
        {
            if (!reader.TryRead(out line))
            {
                return Truncated(reader, out error);
            }

            if (line.IsEmpty)
            {
                statement = "";
                if (!reader.TryRead(out line))
                {
                    return Truncated(reader, out error);
                }
            }
        }
        else
        {
            if (!IsStatement(line))
            {
                error = $"Line {reader.LineNumber}: the statement may hold only RFC 3986 reserved and unreserved characters and spaces.";
                return false;
            }

            statement = new string(line);
            if (!reader.TryRead(out line) || !line.IsEmpty)
            {
                error = $"Line {reader.LineNumber}: the statement must be followed by an empty line.";
                return false;
            }

            if (!reader.TryRead(out line))
            {
                return Truncated(reader, out error);
            }
        }

        if (!TryField(line, UriLabel, reader.LineNumber, out var uri, out error))
        {
            return false;
        }

        if (!Rfc3986.IsUri(uri))
        {
            error = $"Line {reader.LineNumber}: the URI is not an RFC 3986 URI.";
            return false;
        }

        var uriText = new string(uri);
        if (!TryReadField(ref reader, VersionLabel, out var version, out error))
        {
            return false;
        }

        if (!version.SequenceEqual(SupportedVersion))
        {
            error = $"Line {reader.LineNumber}: the version must be {SupportedVersion}.";
            return false;
        }

        if (!TryReadField(ref reader, ChainIdLabel, out var chainIdText, out error))
        {
            return false;
        }

        if (!TryParseChainId(chainIdText, out var chainId))
        {
            error = $"Line {reader.LineNumber}: the chain ID must be decimal digits that fit a 64-bit integer.";
            return false;
        }

        if (!TryReadField(ref reader, NonceLabel, out var nonce, out error))
        {
            return false;
        }

        if (!IsNonce(nonce))
        {
            error = $"Line {reader.LineNumber}: the nonce must be at least {MinNonceLength} letters and digits.";
            return false;
        }

        var nonceText = new string(nonce);
        if (!TryReadField(ref reader, IssuedAtLabel, out var issuedAtText, out error))
        {
            return false;
        }

        if (!Rfc3339.TryParse(issuedAtText, out var issuedAt))
        {
            error = $"Line {reader.LineNumber}: Issued At is not an RFC 3339 date-time.";
            return false;
        }

        DateTimeOffset? expirationTime = null;
        DateTimeOffset? notBefore = null;
        string? requestId = null;
        var resources = new List<string>();

        // The optional fields may appear only in this order, each at most once.
        var stage = 0;
        while (reader.TryRead(out line))
        {
            if (stage < 1 && line.StartsWith(ExpirationTimeLabel, StringComparison.Ordinal))
            {
                if (!Rfc3339.TryParse(line[ExpirationTimeLabel.Length..], out var value))
                {
                    error = $"Line {reader.LineNumber}: Expiration Time is not an RFC 3339 date-time.";
                    return false;
                }

                expirationTime = value;
                stage = 1;
            }
            else if (stage < 2 && line.StartsWith(NotBeforeLabel, StringComparison.Ordinal))
            {
                if (!Rfc3339.TryParse(line[NotBeforeLabel.Length..], out var value))
                {
                    error = $"Line {reader.LineNumber}: Not Before is not an RFC 3339 date-time.";
                    return false;
                }

                notBefore = value;
                stage = 2;
            }
            else if (stage < 3 && line.StartsWith(RequestIdLabel, StringComparison.Ordinal))
            {
                var value = line[RequestIdLabel.Length..];
                if (!Rfc3986.IsPcharSequence(value))
                {
                    error = $"Line {reader.LineNumber}: the request ID may hold only RFC 3986 pchar characters.";
                    return false;
                }

                requestId = new string(value);
                stage = 3;
            }
            else if (stage < 4 && line.SequenceEqual(ResourcesLabel))
            {
                stage = 4;
            }
            else if (stage == 4 && line.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            {
                var value = line[ResourcePrefix.Length..];
                if (!Rfc3986.IsUri(value))
                {
                    error = $"Line {reader.LineNumber}: the resource is not an RFC 3986 URI.";
                    return false;
                }

                resources.Add(new string(value));
            }
            else
            {
                error = $"Line {reader.LineNumber}: unexpected content.";
                return false;
            }
        }

        message = new SiweMessage(text, scheme, new string(origin), addressText, address)
        {
            Statement = statement,
            Uri = uriText,
            Version = SupportedVersion,
            ChainId = chainId,
            Nonce = nonceText,
            IssuedAt = issuedAt,
            ExpirationTime = expirationTime,
            NotBefore = notBefore,
            RequestId = requestId,
            Resources = resources.Count == 0 ? [] : resources.ToArray(),
        };
        error = null;
        return true;
    }

    /// <summary>Builds a message from fields, refusing any field the parser would refuse.</summary>
    public static bool TryCreate(
        SiweMessageFields fields,
        [NotNullWhen(true)] out SiweMessage? message,
        [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(fields);
        message = null;
        error = MissingField(fields);
        if (error is not null)
        {
            return false;
        }

        if (ContainsLineBreak(fields))
        {
            error = "A field contains a line break.";
            return false;
        }

        var text = new StringBuilder(256);
        if (fields.Scheme is not null)
        {
            text.Append(fields.Scheme).Append("://");
        }

        text.Append(fields.Domain).Append(HeaderSuffix).Append('\n')
            .Append(fields.Address).Append("\n\n");
        if (fields.Statement is not null)
        {
            text.Append(fields.Statement).Append('\n');
        }

        text.Append('\n')
            .Append(UriLabel).Append(fields.Uri).Append('\n')
            .Append(VersionLabel).Append(fields.Version).Append('\n')
            .Append(ChainIdLabel).Append(fields.ChainId!.Value.ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append(NonceLabel).Append(fields.Nonce).Append('\n')
            .Append(IssuedAtLabel).Append(fields.IssuedAt);
        AppendOptional(text, ExpirationTimeLabel, fields.ExpirationTime);
        AppendOptional(text, NotBeforeLabel, fields.NotBefore);
        AppendOptional(text, RequestIdLabel, fields.RequestId);
        if (fields.Resources is { } resources)
        {
            text.Append('\n').Append(ResourcesLabel);
            foreach (var resource in resources)
            {
                text.Append('\n').Append(ResourcePrefix).Append(resource);
            }
        }

        if (!TryParse(text.ToString(), out var parsed, out var parseError))
        {
            error = parseError;
            return false;
        }

        // Every other field sits alone behind its own label; only the first line could regroup,
        // e.g. a domain of "https://x" with no scheme would parse back as scheme "https".
        if (parsed.Scheme != fields.Scheme || parsed.Domain != fields.Domain)
        {
            error = "The scheme or domain is not valid.";
            return false;
        }

        message = parsed;
        return true;
    }

    private static string? MissingField(SiweMessageFields fields) =>
        fields switch
        {
            { Domain: null } => "The domain is missing.",
            { Address: null } => "The address is missing.",
            { Uri: null } => "The URI is missing.",
            { Version: null } => "The version is missing.",
            { ChainId: null } => "The chain ID is missing.",
            { Nonce: null } => "The nonce is missing.",
            { IssuedAt: null } => "Issued At is missing.",
            _ => null,
        };

    private static bool ContainsLineBreak(SiweMessageFields fields)
    {
        static bool Breaks(string? value) => value is not null && value.AsSpan().IndexOfAny('\n', '\r') >= 0;

        return Breaks(fields.Scheme) || Breaks(fields.Domain) || Breaks(fields.Address) || Breaks(fields.Statement)
            || Breaks(fields.Uri) || Breaks(fields.Version) || Breaks(fields.Nonce) || Breaks(fields.IssuedAt)
            || Breaks(fields.ExpirationTime) || Breaks(fields.NotBefore) || Breaks(fields.RequestId)
            || (fields.Resources?.Any(Breaks) ?? false);
    }

    private static void AppendOptional(StringBuilder text, string label, string? value)
    {
        if (value is not null)
        {
            text.Append('\n').Append(label).Append(value);
        }
    }

    private static bool Truncated(LineReader reader, out string error)
    {
        error = $"Line {reader.LineNumber + 1}: expected \"{UriLabel}\".";
        return false;
    }

    private static bool TryReadField(ref LineReader reader, string label, out ReadOnlySpan<char> value, [NotNullWhen(false)] out string? error)
    {
        if (!reader.TryRead(out var line))
        {
            value = default;
            error = $"Line {reader.LineNumber + 1}: expected \"{label}\".";
            return false;
        }

        return TryField(line, label, reader.LineNumber, out value, out error);
    }

    private static bool TryField(ReadOnlySpan<char> line, string label, int lineNumber, out ReadOnlySpan<char> value, [NotNullWhen(false)] out string? error)
    {
        if (!line.StartsWith(label, StringComparison.Ordinal))
        {
            value = default;
            error = $"Line {lineNumber}: expected \"{label}\".";
            return false;
        }

        value = line[label.Length..];
        error = null;
        return true;
    }

    // statement = *( reserved / unreserved / " " )
    private static bool IsStatement(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (c != ' ' && !Rfc3986.IsReserved(c) && !Rfc3986.IsUnreserved(c))
            {
                return false;
            }
        }

        return true;
    }

    // nonce = 8*( ALPHA / DIGIT )
    private static bool IsNonce(ReadOnlySpan<char> text)
    {
        if (text.Length < MinNonceLength)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!char.IsAsciiLetterOrDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    // chain-id = 1*DIGIT; NumberStyles.None admits digits only (no sign, no spaces).
    private static bool TryParseChainId(ReadOnlySpan<char> text, out long chainId) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out chainId);

    private ref struct LineReader
    {
        private ReadOnlySpan<char> _remaining;
        private bool _finished;

        public LineReader(string text)
        {
            _remaining = text;
        }

        public int LineNumber { get; private set; }

        public bool TryRead(out ReadOnlySpan<char> line)
        {
            if (_finished)
            {
                line = default;
                return false;
            }

            LineNumber++;
            var end = _remaining.IndexOf('\n');
            if (end < 0)
            {
                line = _remaining;
                _finished = true;
            }
            else
            {
                line = _remaining[..end];
                _remaining = _remaining[(end + 1)..];
            }

            return true;
        }
    }
}
