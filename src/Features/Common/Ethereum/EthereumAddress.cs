using System.Buffers.Binary;
using Nethereum.Util;

namespace Freeside.Features.Common.Ethereum;

/// <summary>How <see cref="EthereumAddress.TryParse"/> treats letter case.</summary>
public enum AddressChecksumPolicy
{
    /// <summary>The text must be exactly the EIP-55 form (what SIWE demands).</summary>
    Required = 0,

    /// <summary>All-lowercase or all-uppercase text is taken unchecked; mixed case must be the EIP-55 form.</summary>
    IfMixedCase = 1,
}

public enum AddressParseError
{
    None = 0,
    Empty = 1,
    MissingPrefix = 2,
    WrongLength = 3,
    NotHex = 4,
    BadChecksum = 5,
}

/// <summary>
/// A 20-byte Ethereum account address. Equality is on the bytes, so it ignores the letter case
/// of whatever text it was parsed from; <see cref="ToString"/> gives the EIP-55 form.
/// </summary>
public readonly record struct EthereumAddress
{
    public const int ByteLength = 20;
    public const int HexLength = 2 + (ByteLength * 2);

    // Three integers rather than an array: value equality and hashing for free, no allocation.
    private readonly ulong _high;
    private readonly ulong _middle;
    private readonly uint _low;

    private EthereumAddress(ReadOnlySpan<byte> bytes)
    {
        _high = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        _middle = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        _low = BinaryPrimitives.ReadUInt32BigEndian(bytes[16..]);
    }

    public static EthereumAddress FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != ByteLength)
        {
            throw new ArgumentException($"An address is {ByteLength} bytes.", nameof(bytes));
        }

        return new EthereumAddress(bytes);
    }

    /// <summary>Address of an uncompressed secp256k1 public key: 64 bytes X||Y, or 65 with the 0x04 prefix.</summary>
    public static EthereumAddress FromPublicKey(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length == 65 && publicKey[0] == 0x04)
        {
            publicKey = publicKey[1..];
        }

        if (publicKey.Length != 64)
        {
            throw new ArgumentException("Expected an uncompressed public key: 64 bytes, or 65 starting with 0x04.", nameof(publicKey));
        }

        var hash = Sha3Keccack.Current.CalculateHash(publicKey.ToArray());
        return new EthereumAddress(hash.AsSpan(hash.Length - ByteLength));
    }

    public static bool TryParse(ReadOnlySpan<char> text, out EthereumAddress address) =>
        TryParse(text, AddressChecksumPolicy.IfMixedCase, out address, out _);

    public static bool TryParse(
        ReadOnlySpan<char> text,
        AddressChecksumPolicy policy,
        out EthereumAddress address,
        out AddressParseError error)
    {
        address = default;
        Span<byte> bytes = stackalloc byte[ByteLength];
        error = Validate(text, policy, bytes);
        if (error != AddressParseError.None)
        {
            return false;
        }

        address = new EthereumAddress(bytes);
        return true;
    }

    /// <summary>True when <paramref name="text"/> is 0x + 40 hex digits in exactly the EIP-55 letter case.</summary>
    public static bool IsValidChecksum(ReadOnlySpan<char> text) =>
        Validate(text, AddressChecksumPolicy.Required, stackalloc byte[ByteLength]) == AddressParseError.None;

    public void CopyTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _high);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _middle);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], _low);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[ByteLength];
        CopyTo(bytes);
        return bytes;
    }

    public string ToChecksumString() => AddressUtil.Current.ConvertToChecksumAddress(ToArray());

    public override string ToString() => ToChecksumString();

    private static AddressParseError Validate(ReadOnlySpan<char> text, AddressChecksumPolicy policy, Span<byte> bytes)
    {
        if (text.IsEmpty)
        {
            return AddressParseError.Empty;
        }

        if (!text.StartsWith("0x", StringComparison.Ordinal))
        {
            return AddressParseError.MissingPrefix;
        }

        var digits = text[2..];
        if (digits.Length != ByteLength * 2)
        {
            return AddressParseError.WrongLength;
        }

        var hasLower = false;
        var hasUpper = false;
        foreach (var c in digits)
        {
            if (char.IsAsciiDigit(c))
            {
                continue;
            }

            if (c is >= 'a' and <= 'f')
            {
                hasLower = true;
            }
            else if (c is >= 'A' and <= 'F')
            {
                hasUpper = true;
            }
            else
            {
                return AddressParseError.NotHex;
            }
        }

        Convert.FromHexString(digits, bytes, out _, out _);

        var mustMatchChecksum = policy == AddressChecksumPolicy.Required || (hasLower && hasUpper);
        if (!mustMatchChecksum)
        {
            return AddressParseError.None;
        }

        return AddressUtil.Current.IsChecksumAddress(text.ToString()) ? AddressParseError.None : AddressParseError.BadChecksum;
    }
}
