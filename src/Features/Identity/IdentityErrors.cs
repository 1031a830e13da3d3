using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;

namespace Freeside.Features.Identity;

/// <summary>A SIWE message or signature was refused; the problem type names the exact check that failed.</summary>
public sealed record SignInRefused(SiweFailure Reason, string Detail)
    : Error(KindFor(Reason), "siwe-" + Slug(Reason), "Sign-in with Ethereum was refused.", Detail)
{
    public override IReadOnlyDictionary<string, object?> Extensions { get; } =
        new Dictionary<string, object?> { ["reason"] = Slug(Reason) };

    /// <summary>Unreadable input is 400; a well-formed message that fails a check is 401.</summary>
    private static ErrorKind KindFor(SiweFailure reason) => reason switch
    {
        SiweFailure.MalformedMessage or SiweFailure.BadChecksum or SiweFailure.MalformedSignature => ErrorKind.Invalid,
        _ => ErrorKind.Unauthorized,
    };

    internal static string Slug(SiweFailure reason) => reason switch
    {
        SiweFailure.MalformedMessage => "malformed-message",
        SiweFailure.BadChecksum => "bad-checksum",
        SiweFailure.DomainMismatch => "domain-mismatch",
        SiweFailure.SchemeMismatch => "scheme-mismatch",
        SiweFailure.ChainNotAllowed => "chain-not-allowed",
        SiweFailure.NonceMismatch => "nonce-rejected",
        SiweFailure.Expired => "expired",
        SiweFailure.NotYetValid => "not-yet-valid",
        SiweFailure.IssuedInFuture => "issued-in-future",
        SiweFailure.MalformedSignature => "malformed-signature",
        SiweFailure.HighS => "high-s-signature",
        SiweFailure.SignatureMismatch => "signature-mismatch",
        _ => "refused",
    };
}

public sealed record SigningKeyUnavailable()
    : Error(ErrorKind.Unavailable, "signing-key-unavailable", "No usable signing key.",
        "No active signing key can be opened with the configured key-encryption key; rotate the signing key.");

public sealed record ChainUnavailable(long ChainId, string Detail)
    : Error(ErrorKind.Unavailable, "chain-unavailable", "The blockchain could not be read.", Detail)
{
    public override IReadOnlyDictionary<string, object?> Extensions { get; } =
        new Dictionary<string, object?> { ["chain_id"] = ChainId };
}

public sealed record ChainNotConfigured(long ChainId)
    : Error(ErrorKind.Unavailable, "chain-not-configured", "This chain is not configured.",
        $"No JSON-RPC endpoint is configured for chain {ChainId} (CHAIN_RPC_URLS).")
{
    public override IReadOnlyDictionary<string, object?> Extensions { get; } =
        new Dictionary<string, object?> { ["chain_id"] = ChainId };
}
