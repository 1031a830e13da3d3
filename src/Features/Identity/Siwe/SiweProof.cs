using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.RateLimiting;

namespace Freeside.Features.Identity.Siwe;

/// <summary>
/// Proves that a wallet signed a SIWE message Freeside asked for: the grammar, the per-wallet attempt
/// limit, the URI, domain, chain, times and signature, then the single-use nonce. Sign-in and account
/// linking both prove control of a wallet this way; each adds its own checks through
/// <c>check</c>, which runs after the signature and before the nonce is spent, so a refused message
/// leaves its nonce usable.
/// </summary>
public sealed class SiweProof(SiwePolicy policy, NonceStore nonces, RateLimiter limiter)
{
    public sealed record Proven(SiweMessage Message, EthereumAddress Address);

    public async Task<Result<Proven>> ProveAsync(
        string text, string signature, string requestHost, Func<SiweMessage, Error?> check, CancellationToken cancellationToken)
    {
        if (!SiweMessage.TryParse(text, out var message, out var parseError, out var badChecksum))
        {
            return new SignInRefused(badChecksum ? SiweFailure.BadChecksum : SiweFailure.MalformedMessage, parseError);
        }

        // Every attempt naming a wallet counts, signed or not: guessing is bounded per wallet across all IPs.
        var attempts = await limiter.AcquireAsync(RateLimitPolicies.SiweSignInPerAddress, message.ParsedAddress.ToChecksumString(), cancellationToken);
        if (!attempts.Allowed)
        {
            return new RateLimited(attempts);
        }

        if (!SiwePolicy.UriBelongsToDomain(message.Uri, message.Domain))
        {
            return new SignInRefused(SiweFailure.DomainMismatch, $"The URI \"{message.Uri}\" is not on the domain \"{message.Domain}\".");
        }

        var verification = SiweVerifier.Verify(message, signature, policy.ContextFor(requestHost));
        if (!verification.IsValid)
        {
            return new SignInRefused(verification.Failure, verification.Detail!);
        }

        if (check(message) is { } refused)
        {
            return refused;
        }

        // Last, so a message that fails any check leaves its nonce untouched.
        if (!await nonces.ConsumeAsync(message.Nonce, cancellationToken))
        {
            return new SignInRefused(SiweFailure.NonceMismatch, "The nonce is unknown, expired or already used; ask for a new one.");
        }

        return new Proven(message, verification.Address);
    }
}
