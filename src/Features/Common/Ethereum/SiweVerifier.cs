using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Freeside.Features.Common.Ethereum;

/// <summary>
/// Pure SIWE verification: no I/O, the clock comes from the context. Nonce single-use (replay
/// protection) is the caller's job, keyed on the nonce or the message, never on signature bytes.
/// Only EOA (EIP-191) signatures are supported; contract wallets (EIP-1271) need a chain call.
/// </summary>
public static class SiweVerifier
{
    public static SiweVerificationResult Verify(string messageText, string signature, SiweVerificationContext context)
    {
        if (!SiweMessage.TryParse(messageText, out var message, out var error, out var badChecksum))
        {
            return SiweVerificationResult.Fail(badChecksum ? SiweFailure.BadChecksum : SiweFailure.MalformedMessage, error);
        }

        return Verify(message, signature, context);
    }

    public static SiweVerificationResult Verify(SiweMessage message, string signature, SiweVerificationContext context)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(context);

        // Cheap checks first, so junk is refused before any curve arithmetic.
        if (!IsDomainAllowed(message.Domain, context))
        {
            return SiweVerificationResult.Fail(SiweFailure.DomainMismatch, $"Domain \"{message.Domain}\" is not accepted here.");
        }

        // EIP-4361: a message without a scheme is taken to mean https.
        var scheme = message.Scheme ?? "https";
        if (context.ExpectedScheme is not null && !string.Equals(scheme, context.ExpectedScheme, StringComparison.OrdinalIgnoreCase))
        {
            return SiweVerificationResult.Fail(SiweFailure.SchemeMismatch, $"Scheme \"{scheme}\" is not accepted here.");
        }

        if (context.AllowedChainIds is { } chains && !chains.Contains(message.ChainId))
        {
            return SiweVerificationResult.Fail(SiweFailure.ChainNotAllowed, $"Chain {message.ChainId} is not accepted here.");
        }

        if (context.ExpectedNonce is not null && !FixedTimeEquals(message.Nonce, context.ExpectedNonce))
        {
            return SiweVerificationResult.Fail(SiweFailure.NonceMismatch, "The nonce is not the one issued.");
        }

        var timeFailure = CheckTimes(message, context);
        if (timeFailure.HasValue)
        {
            return timeFailure.Value;
        }

        Span<byte> signatureBytes = stackalloc byte[PersonalSign.SignatureLength];
        if (signature is null || !Hex.TryDecodeExact(signature, signatureBytes))
        {
            return SiweVerificationResult.Fail(SiweFailure.MalformedSignature, "The signature is not 65 bytes of hex.");
        }

        var recovery = PersonalSign.RecoverAddress(PersonalSign.HashMessage(message.Text), signatureBytes);
        return recovery.Error switch
        {
            SignatureError.None when recovery.Address == message.ParsedAddress => SiweVerificationResult.Success(recovery.Address),
            SignatureError.None or SignatureError.NoPublicKey =>
                SiweVerificationResult.Fail(SiweFailure.SignatureMismatch, "The signature was not made by the message's address."),
            SignatureError.HighS =>
                SiweVerificationResult.Fail(SiweFailure.HighS, "The signature has a high s value (malleable form)."),
            _ => SiweVerificationResult.Fail(SiweFailure.MalformedSignature, $"The signature is malformed ({recovery.Error})."),
        };
    }

    private static bool IsDomainAllowed(string domain, SiweVerificationContext context)
    {
        if (context.AllowedDomains is null && context.DomainPredicate is null)
        {
            throw new InvalidOperationException(
                "SiweVerificationContext needs AllowedDomains or DomainPredicate: domain binding is what stops phishing.");
        }

        if (context.DomainPredicate is { } predicate && predicate(domain))
        {
            return true;
        }

        if (context.AllowedDomains is { } domains)
        {
            foreach (var allowed in domains)
            {
                if (string.Equals(domain, allowed, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static SiweVerificationResult? CheckTimes(SiweMessage message, SiweVerificationContext context)
    {
        var skew = context.AllowedClockSkew;
        if (skew < TimeSpan.Zero)
        {
            throw new InvalidOperationException("AllowedClockSkew must not be negative.");
        }

        var now = context.TimeProvider.GetUtcNow();
        var latest = now + skew;
        var earliest = now - skew;

        // Expiration Time is exclusive (invalid from that instant on), Not Before inclusive.
        if (message.ExpirationTime is { } expires && earliest >= expires)
        {
            return SiweVerificationResult.Fail(SiweFailure.Expired, $"The message expired at {expires:O}.");
        }

        if (message.NotBefore is { } notBefore && latest < notBefore)
        {
            return SiweVerificationResult.Fail(SiweFailure.NotYetValid, $"The message is not valid before {notBefore:O}.");
        }

        if (context.RejectIssuedInFuture && message.IssuedAt > latest)
        {
            return SiweVerificationResult.Fail(SiweFailure.IssuedInFuture, $"The message claims to be issued at {message.IssuedAt:O}, in the future.");
        }

        return null;
    }

    private static bool FixedTimeEquals(string left, string right) =>
        CryptographicOperations.FixedTimeEquals(
            MemoryMarshal.AsBytes(left.AsSpan()),
            MemoryMarshal.AsBytes(right.AsSpan()));
}
