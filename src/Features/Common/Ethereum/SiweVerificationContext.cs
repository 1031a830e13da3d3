namespace Freeside.Features.Common.Ethereum;

/// <summary>
/// What the relying party expects of a SIWE message. Build one at startup and derive the
/// per-request copy with <c>context with { ExpectedNonce = nonce }</c>.
/// </summary>
public sealed record SiweVerificationContext
{
    public static readonly TimeSpan DefaultClockSkew = TimeSpan.FromSeconds(60);

    /// <summary>Domains (RFC 3986 authorities, compared case-insensitively) the message may name.</summary>
    public IReadOnlyCollection<string>? AllowedDomains { get; init; }

    /// <summary>Alternative to <see cref="AllowedDomains"/>; one of the two is required.</summary>
    public Func<string, bool>? DomainPredicate { get; init; }

    /// <summary>When set, the message's scheme must match; a message without one counts as https.</summary>
    public string? ExpectedScheme { get; init; }

    /// <summary>The nonce this server issued for the sign-in; null skips the check.</summary>
    public string? ExpectedNonce { get; init; }

    /// <summary>Null accepts any chain.</summary>
    public IReadOnlyCollection<long>? AllowedChainIds { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Slack applied in the message's favour to every time check.</summary>
    public TimeSpan AllowedClockSkew { get; init; } = DefaultClockSkew;

    /// <summary>
    /// Refuse a message whose Issued At is later than now plus the skew. EIP-4361 and the reference
    /// verifier do not check this; it is on by default because a wallet cannot honestly sign in the future.
    /// </summary>
    public bool RejectIssuedInFuture { get; init; } = true;

    public static SiweVerificationContext ForDomains(params string[] domains) => new() { AllowedDomains = domains };
}
