using System.Buffers;
using System.Globalization;
using System.Text;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Math.EC;
using Org.BouncyCastle.Math.EC.Multiplier;

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

/// <summary>EIP-191 version 0x45 ("personal_sign") hashing, signing and signer recovery on secp256k1.</summary>
public static class PersonalSign
{
    public const int SignatureLength = 65;

    // \u, not \x: C#'s \x takes up to four hex digits, so "\x19E" would be one character U+019E.
    private const string Prefix = "\u0019Ethereum Signed Message:\n";
    private const int StackLimit = 1024;

    public static byte[] HashMessage(string message)
    {
        var hash = new byte[Keccak256.HashLength];
        HashMessage(message, hash);
        return hash;
    }

    public static void HashMessage(string message, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(message);
        var byteCount = Encoding.UTF8.GetByteCount(message);
        byte[]? rented = null;
        var buffer = byteCount <= StackLimit
            ? stackalloc byte[StackLimit]
            : (rented = ArrayPool<byte>.Shared.Rent(byteCount));
        try
        {
            var written = Encoding.UTF8.GetBytes(message, buffer);
            HashMessage(buffer[..written], destination);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    public static byte[] HashMessage(ReadOnlySpan<byte> message)
    {
        var hash = new byte[Keccak256.HashLength];
        HashMessage(message, hash);
        return hash;
    }

    /// <summary>keccak256("\x19Ethereum Signed Message:\n" + decimal byte length + message).</summary>
    public static void HashMessage(ReadOnlySpan<byte> message, Span<byte> destination)
    {
        Span<byte> header = stackalloc byte[Prefix.Length + 11];
        var length = Encoding.ASCII.GetBytes(Prefix, header);
        message.Length.TryFormat(header[length..], out var digits, default, CultureInfo.InvariantCulture);
        length += digits;

        var total = length + message.Length;
        byte[]? rented = null;
        var buffer = total <= StackLimit
            ? stackalloc byte[StackLimit]
            : (rented = ArrayPool<byte>.Shared.Rent(total));
        try
        {
            header[..length].CopyTo(buffer);
            message.CopyTo(buffer[length..]);
            Keccak256.Hash(buffer[..total], destination);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Recovers the signer of a 32-byte hash from a 65-byte r || s || v signature. v may be 27/28 or
    /// 0/1. High-s signatures are refused: they verify, but accepting them lets anyone mint a second
    /// valid signature for the same message.
    /// </summary>
    public static SignatureRecovery RecoverAddress(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> signature)
    {
        if (hash.Length != Keccak256.HashLength)
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

        // One copy: BouncyCastle 1.8 BigIntegers are built from byte[] slices.
        var bytes = new byte[Keccak256.HashLength + 64];
        hash.CopyTo(bytes);
        signature[..64].CopyTo(bytes.AsSpan(Keccak256.HashLength));

        var r = new BigInteger(1, bytes, Keccak256.HashLength, Secp256k1.ScalarLength);
        if (r.SignValue == 0 || r.CompareTo(Secp256k1.N) >= 0)
        {
            return Failed(SignatureError.InvalidR);
        }

        var s = new BigInteger(1, bytes, Keccak256.HashLength + Secp256k1.ScalarLength, Secp256k1.ScalarLength);
        if (s.SignValue == 0 || s.CompareTo(Secp256k1.N) >= 0)
        {
            return Failed(SignatureError.InvalidS);
        }

        if (s.CompareTo(Secp256k1.HalfN) > 0)
        {
            return Failed(SignatureError.HighS);
        }

        // R has x = r (v cannot express the r + n case, which has probability ~2^-128) and the
        // y parity given by the recovery id. Solving y^2 = x^3 + 7 directly avoids DecodePoint's
        // exception on an r that is not on the curve.
        var x = Secp256k1.Curve.FromBigInteger(r);
        var y = x.Square().Multiply(x).Add(Secp256k1.Curve.B).Sqrt();
        if (y is null)
        {
            return Failed(SignatureError.NoPublicKey);
        }

        if (y.TestBitZero() != (recoveryId == 1))
        {
            y = y.Negate();
        }

        var bigR = Secp256k1.Curve.CreatePoint(r, y.ToBigInteger());

        // Q = r^-1 (sR - eG) = (s r^-1) R + (-e r^-1) G, as one interleaved double multiplication.
        var e = new BigInteger(1, bytes, 0, Keccak256.HashLength).Mod(Secp256k1.N);
        var rInverse = r.ModInverse(Secp256k1.N);
        var u1 = Secp256k1.N.Subtract(e).Multiply(rInverse).Mod(Secp256k1.N);
        var u2 = s.Multiply(rInverse).Mod(Secp256k1.N);
        var q = ECAlgorithms.SumOfTwoMultiplies(Secp256k1.G, u1, bigR, u2).Normalize();
        if (q.IsInfinity)
        {
            return Failed(SignatureError.NoPublicKey);
        }

        return new SignatureRecovery(AddressOf(q), SignatureError.None);
    }

    /// <summary>
    /// Signs a 32-byte hash: RFC 6979 deterministic nonce, low-s, v = 27/28. For tests and dev
    /// tooling; the product never holds user keys.
    /// </summary>
    public static byte[] Sign(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> privateKey)
    {
        if (hash.Length != Keccak256.HashLength)
        {
            throw new ArgumentException($"The hash must be {Keccak256.HashLength} bytes.", nameof(hash));
        }

        var d = PrivateKeyScalar(privateKey);
        var hashBytes = hash.ToArray();
        var e = new BigInteger(1, hashBytes);
        var kCalculator = new HMacDsaKCalculator(new Sha256Digest());
        kCalculator.Init(Secp256k1.N, d, hashBytes);
        var multiplier = new FixedPointCombMultiplier();
        while (true)
        {
            var k = kCalculator.NextK();
            var point = multiplier.Multiply(Secp256k1.G, k).Normalize();
            var r = point.AffineXCoord.ToBigInteger();

            // r >= n would need a recovery id of 2 or 3, which v = 27/28 cannot carry; take the next k.
            if (r.SignValue == 0 || r.CompareTo(Secp256k1.N) >= 0)
            {
                continue;
            }

            var s = k.ModInverse(Secp256k1.N).Multiply(e.Add(d.Multiply(r))).Mod(Secp256k1.N);
            if (s.SignValue == 0)
            {
                continue;
            }

            var recoveryId = point.AffineYCoord.TestBitZero() ? 1 : 0;
            if (s.CompareTo(Secp256k1.HalfN) > 0)
            {
                s = Secp256k1.N.Subtract(s);
                recoveryId ^= 1;
            }

            var signature = new byte[SignatureLength];
            WriteScalar(r, signature.AsSpan(0, Secp256k1.ScalarLength));
            WriteScalar(s, signature.AsSpan(Secp256k1.ScalarLength, Secp256k1.ScalarLength));
            signature[64] = (byte)(27 + recoveryId);
            return signature;
        }
    }

    public static EthereumAddress PrivateKeyToAddress(ReadOnlySpan<byte> privateKey)
    {
        var d = PrivateKeyScalar(privateKey);
        var q = new FixedPointCombMultiplier().Multiply(Secp256k1.G, d).Normalize();
        return AddressOf(q);
    }

    private static EthereumAddress AddressOf(ECPoint normalizedPoint)
    {
        Span<byte> publicKey = stackalloc byte[64];
        normalizedPoint.AffineXCoord.GetEncoded().CopyTo(publicKey);
        normalizedPoint.AffineYCoord.GetEncoded().CopyTo(publicKey[32..]);
        return EthereumAddress.FromPublicKey(publicKey);
    }

    private static BigInteger PrivateKeyScalar(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != Secp256k1.ScalarLength)
        {
            throw new ArgumentException($"A private key is {Secp256k1.ScalarLength} bytes.", nameof(privateKey));
        }

        var d = new BigInteger(1, privateKey.ToArray());
        if (d.SignValue == 0 || d.CompareTo(Secp256k1.N) >= 0)
        {
            throw new ArgumentException("The private key is not in [1, n-1].", nameof(privateKey));
        }

        return d;
    }

    private static void WriteScalar(BigInteger value, Span<byte> destination)
    {
        var bytes = value.ToByteArrayUnsigned();
        destination.Clear();
        bytes.CopyTo(destination[(destination.Length - bytes.Length)..]);
    }

    private static SignatureRecovery Failed(SignatureError error) => new(default, error);
}
