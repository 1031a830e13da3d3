using System.Text;
using NBitcoin.Secp256k1;
using Nethereum.Signer;

namespace Freeside.Features.Common.Ethereum;

public enum SignatureError
{
    None = 0,
    InvalidHashLength = 1,
    InvalidLength = 2,
    InvalidRecoveryId = 3,
    InvalidR = 4,
    InvalidS = 5,

    /// <summary>s above n/2: the malleable twin of a valid signature, refused.</summary>
    HighS = 6,

    /// <summary>r is not the x-coordinate of a curve point, or recovery gave the point at infinity.</summary>
    NoPublicKey = 7,
}

public readonly record struct SignatureRecovery(EthereumAddress Address, SignatureError Error)
{
    public bool Succeeded => Error == SignatureError.None;
}

/// <summary>
/// EIP-191 version 0x45 ("personal_sign") hashing, signing and signer recovery on secp256k1.
/// Nethereum hashes (EIP-191 prefix, Keccak-256); the curve work is NBitcoin.Secp256k1, the
/// libsecp256k1 port Nethereum.Signer itself ships with and uses for its fast path. What stays
/// here is the policy neither applies: which v values, r and s ranges and s halves are accepted.
/// </summary>
public static class PersonalSign
{
    public const int SignatureLength = 65;
    public const int HashLength = 32;
    private const int ScalarLength = 32;

    private static readonly EthereumMessageSigner MessageSigner = new();

    // secp256k1's group order n and n / 2, big-endian: r and s must lie in [1, n - 1], s in the low half.
    private static ReadOnlySpan<byte> CurveOrder =>
    [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
    ];

    private static ReadOnlySpan<byte> HalfCurveOrder =>
    [
        0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
    ];

    public static byte[] HashMessage(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return HashMessage(Encoding.UTF8.GetBytes(message));
    }

    /// <summary>keccak256("\x19Ethereum Signed Message:\n" + decimal byte length + message).</summary>
    public static byte[] HashMessage(ReadOnlySpan<byte> message) => MessageSigner.HashPrefixedMessage(message.ToArray());

    /// <summary>
    /// Recovers the signer of a 32-byte hash from a 65-byte r || s || v signature. v may be 27/28 or
    /// 0/1. High-s signatures are refused: they verify, but accepting them lets anyone mint a second
    /// valid signature for the same message.
    /// </summary>
    public static SignatureRecovery RecoverAddress(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> signature)
    {
        if (hash.Length != HashLength)
        {
            return Failed(SignatureError.InvalidHashLength);
        }

        if (signature.Length != SignatureLength)
        {
            return Failed(SignatureError.InvalidLength);
        }

        var recoveryId = signature[64] switch
        {
            0 or 27 => 0,
            1 or 28 => 1,
            _ => -1,
        };
        if (recoveryId < 0)
        {
            return Failed(SignatureError.InvalidRecoveryId);
        }

        if (!IsScalar(signature[..ScalarLength]))
        {
            return Failed(SignatureError.InvalidR);
        }

        var s = signature[ScalarLength..(2 * ScalarLength)];
        if (!IsScalar(s))
        {
            return Failed(SignatureError.InvalidS);
        }

        if (s.SequenceCompareTo(HalfCurveOrder) > 0)
        {
            return Failed(SignatureError.HighS);
        }

        // Fails when r is not an x-coordinate on the curve, or when sR = eG makes the key the point
        // at infinity (anyone can build such a signature for their own message).
        if (!SecpRecoverableECDSASignature.TryCreateFromCompact(signature[..(2 * ScalarLength)], recoveryId, out var compact)
            || !ECPubKey.TryRecover(Context.Instance, compact, hash, out var publicKey)
            || publicKey is null)
        {
            return Failed(SignatureError.NoPublicKey);
        }

        return new SignatureRecovery(AddressOf(publicKey), SignatureError.None);
    }

    /// <summary>
    /// Signs a 32-byte hash: RFC 6979 deterministic nonce, low-s, v = 27/28. For tests and dev
    /// tooling; the product never holds user keys.
    /// </summary>
    public static byte[] Sign(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> privateKey)
    {
        if (hash.Length != HashLength)
        {
            throw new ArgumentException($"The hash must be {HashLength} bytes.", nameof(hash));
        }

        using var key = Key(privateKey);
        if (!key.TrySignRecoverable(hash, out var compact) || compact is null)
        {
            throw new InvalidOperationException("secp256k1 could not sign this hash.");
        }

        var signature = new byte[SignatureLength];
        compact.WriteToSpanCompact(signature.AsSpan(0, 2 * ScalarLength), out var recoveryId);
        signature[64] = (byte)(27 + recoveryId);
        return signature;
    }

    public static EthereumAddress PrivateKeyToAddress(ReadOnlySpan<byte> privateKey)
    {
        using var key = Key(privateKey);
        return AddressOf(key.CreatePubKey());
    }

    private static ECPrivKey Key(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != ScalarLength)
        {
            throw new ArgumentException($"A private key is {ScalarLength} bytes.", nameof(privateKey));
        }

        return IsScalar(privateKey) && ECPrivKey.TryCreate(privateKey, out var key)
            ? key
            : throw new ArgumentException("The private key is not in [1, n-1].", nameof(privateKey));
    }

    private static EthereumAddress AddressOf(ECPubKey publicKey)
    {
        Span<byte> uncompressed = stackalloc byte[65];
        publicKey.WriteToSpan(compressed: false, uncompressed, out _);
        return EthereumAddress.FromPublicKey(uncompressed);
    }

    // Big-endian values of equal length compare like their bytes.
    private static bool IsScalar(ReadOnlySpan<byte> value) =>
        value.IndexOfAnyExcept((byte)0) >= 0 && value.SequenceCompareTo(CurveOrder) < 0;

    private static SignatureRecovery Failed(SignatureError error) => new(default, error);
}
