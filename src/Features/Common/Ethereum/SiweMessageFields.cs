namespace Freeside.Features.Common.Ethereum;

/// <summary>
/// Input for <see cref="SiweMessage.TryCreate"/>. Everything is nullable so untrusted input (a JSON
/// body, say) maps straight in and a missing required field is reported rather than defaulted.
/// Timestamps are the RFC 3339 text that goes into the message (see <see cref="SiweMessage.FormatTimestamp"/>).
/// </summary>
public sealed record SiweMessageFields
{
    public string? Scheme { get; init; }

    public string? Domain { get; init; }

    public string? Address { get; init; }

    public string? Statement { get; init; }

    public string? Uri { get; init; }

    public string? Version { get; init; }

    public long? ChainId { get; init; }

    public string? Nonce { get; init; }

    public string? IssuedAt { get; init; }

    public string? ExpirationTime { get; init; }

    public string? NotBefore { get; init; }

    public string? RequestId { get; init; }

    public IReadOnlyList<string>? Resources { get; init; }
}
