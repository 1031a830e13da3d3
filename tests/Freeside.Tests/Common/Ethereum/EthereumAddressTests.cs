using System.Text.Json;
using Freeside.Features.Common.Ethereum;

namespace Freeside.Tests.Common.Ethereum;

public class EthereumAddressTests
{
    private const string File = "eip55_addresses.json";

    public static TheoryData<int> CaseIndexes()
    {
        var data = new TheoryData<int>();
        var count = Vectors.Load(File).GetProperty("cases").GetArrayLength();
        for (var i = 0; i < count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public void IsValidChecksum_Eip55Case_MatchesVector(int index)
    {
        var item = Case(index);

        EthereumAddress.IsValidChecksum(item.GetProperty("input").GetString()).ShouldBe(item.GetProperty("is_valid_eip55").GetBoolean());
    }

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public void TryParse_RequiredPolicy_AcceptsExactlyTheValidChecksums(int index)
    {
        var item = Case(index);

        var parsed = EthereumAddress.TryParse(item.GetProperty("input").GetString(), AddressChecksumPolicy.Required, out _, out var error);

        parsed.ShouldBe(item.GetProperty("is_valid_eip55").GetBoolean());
        (error == AddressParseError.None).ShouldBe(parsed);
    }

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public void TryParse_IfMixedCasePolicy_BehavesLikeEthersGetAddress(int index)
    {
        var item = Case(index);
        var ethers = item.GetProperty("ethers_getAddress").GetString()!;

        var parsed = EthereumAddress.TryParse(item.GetProperty("input").GetString(), AddressChecksumPolicy.IfMixedCase, out var address, out _);

        if (ethers.StartsWith("ERROR", StringComparison.Ordinal))
        {
            parsed.ShouldBeFalse();
        }
        else
        {
            parsed.ShouldBeTrue();
            address.ToChecksumString().ShouldBe(ethers);
        }
    }

    public static TheoryData<int> ChecksummedCaseIndexes()
    {
        var data = new TheoryData<int>();
        var cases = Vectors.Load(File).GetProperty("cases");
        for (var i = 0; i < cases.GetArrayLength(); i++)
        {
            if (cases[i].GetProperty("checksummed").ValueKind == JsonValueKind.String)
            {
                data.Add(i);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ChecksummedCaseIndexes))]
    public void ToChecksumString_AnyCaseOfInput_GivesTheChecksummedForm(int index)
    {
        var item = Case(index);
        var lower = item.GetProperty("input").GetString()!.ToLowerInvariant();
        EthereumAddress.TryParse(lower, out var address).ShouldBeTrue();

        address.ToChecksumString().ShouldBe(item.GetProperty("checksummed").GetString());
        address.ToString().ShouldBe(address.ToChecksumString());
    }

    [Theory]
    [InlineData("", AddressParseError.Empty)]
    [InlineData("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", AddressParseError.MissingPrefix)]
    [InlineData("0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", AddressParseError.MissingPrefix)]
    [InlineData("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", AddressParseError.WrongLength)]
    [InlineData("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", AddressParseError.WrongLength)]
    [InlineData("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", AddressParseError.NotHex)]
    [InlineData(" 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", AddressParseError.MissingPrefix)]
    [InlineData("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed ", AddressParseError.WrongLength)]
    [InlineData("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", AddressParseError.BadChecksum)]
    public void TryParse_BadInput_ReportsReason(string text, AddressParseError expected)
    {
        EthereumAddress.TryParse(text, AddressChecksumPolicy.IfMixedCase, out var address, out var error).ShouldBeFalse();

        error.ShouldBe(expected);
        address.ShouldBe(default);
    }

    [Fact]
    public void Equals_SameBytesDifferentCase_AreEqualWithSameHash()
    {
        EthereumAddress.TryParse("0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", out var lower).ShouldBeTrue();
        EthereumAddress.TryParse("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", out var mixed).ShouldBeTrue();
        EthereumAddress.TryParse("0xFB6916095CA1DF60BB79CE92CE3EA74C37C5D359", out var upper).ShouldBeTrue();

        lower.ShouldBe(mixed);
        upper.ShouldBe(mixed);
        lower.GetHashCode().ShouldBe(mixed.GetHashCode());
        (lower == upper).ShouldBeTrue();
    }

    [Fact]
    public void Equals_DifferentLastByte_NotEqual()
    {
        EthereumAddress.TryParse("0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", out var a).ShouldBeTrue();
        EthereumAddress.TryParse("0xfb6916095ca1df60bb79ce92ce3ea74c37c5d358", out var b).ShouldBeTrue();

        a.ShouldNotBe(b);
    }

    [Fact]
    public void FromBytes_ToArray_RoundTrips()
    {
        var bytes = Enumerable.Range(1, 20).Select(i => (byte)(i * 11)).ToArray();

        EthereumAddress.FromBytes(bytes).ToArray().ShouldBe(bytes);
    }

    [Fact]
    public void FromBytes_WrongLength_Throws() =>
        Should.Throw<ArgumentException>(() => EthereumAddress.FromBytes(new byte[19]));

    [Fact]
    public void FromPublicKey_PrefixedAndBareForms_GiveTheKnownAddressOfKeyOne()
    {
        // Public key of private key 1 is the generator point.
        var bare = Convert.FromHexString(
            "79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798" +
            "483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8");
        var prefixed = new byte[] { 0x04 }.Concat(bare).ToArray();

        EthereumAddress.FromPublicKey(bare).ToString().ShouldBe("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
        EthereumAddress.FromPublicKey(prefixed).ShouldBe(EthereumAddress.FromPublicKey(bare));
    }

    [Theory]
    [InlineData(33)]
    [InlineData(63)]
    [InlineData(66)]
    public void FromPublicKey_NotUncompressed_Throws(int length) =>
        Should.Throw<ArgumentException>(() => EthereumAddress.FromPublicKey(new byte[length]));

    [Fact]
    public void FromPublicKey_65BytesWithoutUncompressedPrefix_Throws() =>
        Should.Throw<ArgumentException>(() => EthereumAddress.FromPublicKey(new byte[65]));

    private static JsonElement Case(int index) => Vectors.Load(File).GetProperty("cases")[index];
}
