using System.Globalization;
using System.Numerics;
using Freeside.Features.Common.Ethereum;

namespace Freeside.Features.Identity.Ownership;

/// <summary>The four ERC-721 reads Freeside makes, ABI-encoded by hand (each argument one 32-byte word).</summary>
public static class Erc721Abi
{
    public const string OwnerOf = "6352211e";
    public const string BalanceOf = "70a08231";
    public const string TokenOfOwnerByIndex = "2f745c59";
    public const string SupportsInterface = "01ffc9a7";
    public const uint Erc721EnumerableInterface = 0x780e9d63;

    public static readonly BigInteger MaxUint256 = (BigInteger.One << 256) - 1;

    public static string EncodeOwnerOf(BigInteger tokenId) => "0x" + OwnerOf + Word(tokenId);

    public static string EncodeBalanceOf(EthereumAddress owner) => "0x" + BalanceOf + Word(owner);

    public static string EncodeTokenOfOwnerByIndex(EthereumAddress owner, BigInteger index) =>
        "0x" + TokenOfOwnerByIndex + Word(owner) + Word(index);

    /// <summary>bytes4 is left-aligned in its word.</summary>
    public static string EncodeSupportsInterface(uint interfaceId) =>
        "0x" + SupportsInterface + interfaceId.ToString("x8", CultureInfo.InvariantCulture) + new string('0', 56);

    public static bool TryDecodeUint(ReadOnlySpan<byte> result, out BigInteger value)
    {
        if (result.Length != 32)
        {
            value = default;
            return false;
        }

        value = new BigInteger(result, isUnsigned: true, isBigEndian: true);
        return true;
    }

    public static bool TryDecodeAddress(ReadOnlySpan<byte> result, out EthereumAddress address)
    {
        address = default;
        if (result.Length != 32 || result[..12].ContainsAnyExcept((byte)0))
        {
            return false;
        }

        address = EthereumAddress.FromBytes(result[12..]);
        return true;
    }

    public static bool TryDecodeBool(ReadOnlySpan<byte> result, out bool value)
    {
        value = false;
        if (result.Length != 32 || result[..31].ContainsAnyExcept((byte)0) || result[31] > 1)
        {
            return false;
        }

        value = result[31] == 1;
        return true;
    }

    /// <summary>A decimal uint256 without sign, spaces or leading zeros.</summary>
    public static bool TryParseTokenId(string? text, out BigInteger tokenId)
    {
        tokenId = default;
        if (string.IsNullOrEmpty(text) || text.Length > 78 || (text.Length > 1 && text[0] == '0') || !text.All(char.IsAsciiDigit))
        {
            return false;
        }

        tokenId = BigInteger.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        return tokenId <= MaxUint256;
    }

    /// <summary>A uint256 argument as its 32-byte word, in hex.</summary>
    public static string Word(BigInteger value)
    {
        if (value.Sign < 0 || value > MaxUint256)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "Not a uint256.");
        }

        var hex = Convert.ToHexStringLower(value.ToByteArray(isUnsigned: true, isBigEndian: true));
        return hex.TrimStart('0').PadLeft(64, '0');
    }

    /// <summary>An address argument as its 32-byte word, in hex.</summary>
    public static string Word(EthereumAddress address) => new string('0', 24) + Convert.ToHexStringLower(address.ToArray());
}
