using Freeside.Features.Common.Ethereum;
using Org.BouncyCastle.Crypto.Digests;

namespace Freeside.Tests.Common.Ethereum;

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

        var hash = Keccak256.Hash(data);

        ("0x" + Convert.ToHexStringLower(hash)).ShouldBe(item.GetProperty("keccak256").GetString());
    }

    [Fact]
    public void Hash_EmptyInput_DiffersFromFipsSha3()
    {
        var sha3 = Vectors.Load(File).GetProperty("sha3_256_empty_for_contrast").GetString();

        var hash = "0x" + Convert.ToHexStringLower(Keccak256.Hash([]));

        hash.ShouldBe("0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
        hash.ShouldNotBe(sha3);
    }

    [Theory]
    [InlineData(1087)]
    [InlineData(1088)]
    [InlineData(1089)]
    [InlineData(100_000)]
    public void Hash_InputSpanningSeveralStagingBlocks_MatchesOneShotDigest(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        var digest = new KeccakDigest(256);
        digest.BlockUpdate(data, 0, data.Length);
        var expected = new byte[32];
        digest.DoFinal(expected, 0);

        Keccak256.Hash(data).ShouldBe(expected);
    }

    [Fact]
    public void Hash_ManyThreadsAtOnce_EachGetsItsOwnDigest()
    {
        var inputs = Enumerable.Range(0, 64).Select(i => Enumerable.Repeat((byte)i, 300 + i).ToArray()).ToArray();
        var expected = inputs.Select(input => Keccak256.Hash(input)).ToArray();

        var actual = new byte[inputs.Length][];
        Parallel.For(0, inputs.Length * 50, i => actual[i % inputs.Length] = Keccak256.Hash(inputs[i % inputs.Length]));

        actual.ShouldBe(expected);
    }

    [Fact]
    public void Hash_DestinationTooSmall_Throws() =>
        Should.Throw<ArgumentException>(() => Keccak256.Hash([1, 2, 3], new byte[31]));
}
