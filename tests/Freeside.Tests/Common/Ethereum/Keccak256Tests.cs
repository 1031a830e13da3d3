using Nethereum.Util;

namespace Freeside.Tests.Common.Ethereum;

/// <summary>
/// Addresses, EIP-55 and EIP-191 all hash with Nethereum's Sha3Keccack; these pin that it is
/// Ethereum's Keccak-256 (not FIPS SHA3-256) and that its shared instance is safe across threads.
/// </summary>
public class Keccak256Tests
{
    private const string File = "keccak256.json";

    public static TheoryData<string> VectorNames()
    {
        var data = new TheoryData<string>();
        var root = Vectors.Load(File);
        foreach (var item in root.GetProperty("items").EnumerateArray().Concat(root.GetProperty("extra").EnumerateArray()))
        {
            data.Add(item.GetProperty("name").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Hash_EthersVector_MatchesExpectedDigest(string name)
    {
        var root = Vectors.Load(File);
        var item = root.GetProperty("items").EnumerateArray().Concat(root.GetProperty("extra").EnumerateArray())
            .Single(i => i.GetProperty("name").GetString() == name);
        var data = Convert.FromHexString(item.GetProperty("data").GetString()![2..]);

        var hash = Sha3Keccack.Current.CalculateHash(data);

        ("0x" + Convert.ToHexStringLower(hash)).ShouldBe(item.GetProperty("keccak256").GetString());
    }

    [Fact]
    public void Hash_EmptyInput_DiffersFromFipsSha3()
    {
        var sha3 = Vectors.Load(File).GetProperty("sha3_256_empty_for_contrast").GetString();

        var hash = "0x" + Convert.ToHexStringLower(Sha3Keccack.Current.CalculateHash([]));

        hash.ShouldBe("0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
        hash.ShouldNotBe(sha3);
    }

    [Fact]
    public void Hash_ManyThreadsAtOnce_EachGetsItsOwnDigest()
    {
        var inputs = Enumerable.Range(0, 64).Select(i => Enumerable.Repeat((byte)i, 300 + i).ToArray()).ToArray();
        var expected = inputs.Select(input => Sha3Keccack.Current.CalculateHash(input)).ToArray();

        var actual = new byte[inputs.Length][];
        Parallel.For(0, inputs.Length * 50, i => actual[i % inputs.Length] = Sha3Keccack.Current.CalculateHash(inputs[i % inputs.Length]));

        actual.ShouldBe(expected);
    }
}
