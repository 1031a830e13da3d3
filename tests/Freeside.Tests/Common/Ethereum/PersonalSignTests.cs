using System.Globalization;
using System.Numerics;
using System.Text.Json;
using Freeside.Features.Common.Ethereum;
using Nethereum.Signer;
using Nethereum.Util;

namespace Freeside.Tests.Common.Ethereum;

public class PersonalSignTests
{
    private const string File = "eip55_addresses.json";

    // web3.js documentation example for accounts.sign("Some data", key): an independent RFC 6979 vector.
    private const string DocsKey = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    private const string DocsAddress = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";
    private const string DocsSignature =
        "b91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c";

    private static readonly BigInteger N = BigInteger.Parse("0FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    public static TheoryData<int> AccountIndexes()
    {
        var data = new TheoryData<int>();
        var count = Accounts().GetArrayLength();
        for (var i = 0; i < count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AccountIndexes))]
    public void PrivateKeyToAddress_EthersAccount_MatchesChecksummedAddress(int index)
    {
        var account = Accounts()[index];
        var key = Convert.FromHexString(account.GetProperty("privateKey").GetString()![2..]);

        PersonalSign.PrivateKeyToAddress(key).ToChecksumString().ShouldBe(account.GetProperty("address").GetString());
    }

    [Theory]
    [MemberData(nameof(AccountIndexes))]
    public void Sign_ThenRecover_GivesTheSignersAddress(int index)
    {
        var account = Accounts()[index];
        var key = Convert.FromHexString(account.GetProperty("privateKey").GetString()![2..]);
        var hash = PersonalSign.HashMessage($"sign-in attempt {index}");

        var signature = PersonalSign.Sign(hash, key);
        var recovery = PersonalSign.RecoverAddress(hash, signature);

        recovery.Error.ShouldBe(SignatureError.None);
        recovery.Address.ToChecksumString().ShouldBe(account.GetProperty("address").GetString());
        signature[64].ShouldBeOneOf((byte)27, (byte)28);
        S(signature).CompareTo(N / 2).ShouldBeLessThanOrEqualTo(0);
    }

    [Fact]
    public void HashMessage_HelloWorld_MatchesKnownEip191Digest() =>
        Convert.ToHexStringLower(PersonalSign.HashMessage("Hello World"))
            .ShouldBe("a1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2");

    [Fact]
    public void HashMessage_NonAsciiText_PrefixCountsUtf8Bytes()
    {
        const string message = "héllo ✓";
        var body = System.Text.Encoding.UTF8.GetBytes(message);
        var expected = Sha3Keccack.Current.CalculateHash([0x19, .. "Ethereum Signed Message:\n"u8, .. System.Text.Encoding.ASCII.GetBytes($"{body.Length}"), .. body]);

        PersonalSign.HashMessage(message).ShouldBe(expected);
        PersonalSign.HashMessage(body).ShouldBe(expected);
    }

    [Fact]
    public void HashMessage_MessageLargerThanStackBuffer_MatchesManualPrefixing()
    {
        var message = new string('x', 5000);
        var expected = Sha3Keccack.Current.CalculateHash([0x19, .. "Ethereum Signed Message:\n5000"u8, .. System.Text.Encoding.ASCII.GetBytes(message)]);

        PersonalSign.HashMessage(message).ShouldBe(expected);
    }

    [Fact]
    public void Sign_Web3DocsExample_MatchesPublishedSignature()
    {
        var hash = PersonalSign.HashMessage("Some data");

        var signature = PersonalSign.Sign(hash, Convert.FromHexString(DocsKey));

        Convert.ToHexStringLower(signature).ShouldBe(DocsSignature);
        PersonalSign.PrivateKeyToAddress(Convert.FromHexString(DocsKey)).ToString().ShouldBe(DocsAddress);
    }

    [Fact]
    public void Sign_SameInputTwice_IsDeterministic()
    {
        var hash = PersonalSign.HashMessage("again");
        var key = Convert.FromHexString(DocsKey);

        PersonalSign.Sign(hash, key).ShouldBe(PersonalSign.Sign(hash, key));
    }

    [Theory]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141")]
    [InlineData("00")]
    public void Sign_KeyOutsideScalarRange_Throws(string keyHex) =>
        Should.Throw<ArgumentException>(() => PersonalSign.Sign(new byte[32], Convert.FromHexString(keyHex)));

    [Fact]
    public void RecoverAddress_VAsZeroOrOne_RecoversLikeTwentySevenOrEight()
    {
        var hash = PersonalSign.HashMessage("Some data");
        var signature = Convert.FromHexString(DocsSignature);
        var legacy = signature.ToArray();
        legacy[64] -= 27;

        var recovery = PersonalSign.RecoverAddress(hash, legacy);

        recovery.Error.ShouldBe(SignatureError.None);
        recovery.Address.ToString().ShouldBe(DocsAddress);
    }

    [Fact]
    public void RecoverAddress_WrongParity_RecoversADifferentAddress()
    {
        var hash = PersonalSign.HashMessage("Some data");
        var flipped = Convert.FromHexString(DocsSignature);
        flipped[64] = (byte)(flipped[64] == 27 ? 28 : 27);

        var recovery = PersonalSign.RecoverAddress(hash, flipped);

        recovery.Succeeded.ShouldBeTrue();
        recovery.Address.ToString().ShouldNotBe(DocsAddress);
    }

    [Fact]
    public void RecoverAddress_HighSTwin_RefusedAsMalleable()
    {
        var hash = PersonalSign.HashMessage("Some data");
        var twin = HighSTwin(Convert.FromHexString(DocsSignature));

        PersonalSign.RecoverAddress(hash, twin).Error.ShouldBe(SignatureError.HighS);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    public void RecoverAddress_SAtHalfTheOrderOrOneAbove_OnlyAboveRefusedAsHighS(int aboveHalf, bool refused)
    {
        var signature = Convert.FromHexString(DocsSignature);
        Scalar((N / 2) + aboveHalf).CopyTo(signature, 32);

        var error = PersonalSign.RecoverAddress(PersonalSign.HashMessage("Some data"), signature).Error;

        (error == SignatureError.HighS).ShouldBe(refused);
    }

    [Fact]
    public void RecoverAddress_TamperedHash_RecoversSomeoneElse()
    {
        var hash = PersonalSign.HashMessage("Some data!");

        var recovery = PersonalSign.RecoverAddress(hash, Convert.FromHexString(DocsSignature));

        recovery.Address.ToString().ShouldNotBe(DocsAddress);
    }

    [Theory]
    [InlineData(0, SignatureError.InvalidLength)]
    [InlineData(64, SignatureError.InvalidLength)]
    [InlineData(66, SignatureError.InvalidLength)]
    public void RecoverAddress_WrongSignatureLength_Refused(int length, SignatureError expected)
    {
        var signature = Convert.FromHexString(DocsSignature).Concat(new byte[1]).Take(length).ToArray();

        PersonalSign.RecoverAddress(PersonalSign.HashMessage("Some data"), signature).Error.ShouldBe(expected);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(26)]
    [InlineData(29)]
    [InlineData(37)]
    [InlineData(255)]
    public void RecoverAddress_UnsupportedV_Refused(byte v)
    {
        var signature = Convert.FromHexString(DocsSignature);
        signature[64] = v;

        PersonalSign.RecoverAddress(PersonalSign.HashMessage("Some data"), signature).Error.ShouldBe(SignatureError.InvalidRecoveryId);
    }

    [Fact]
    public void RecoverAddress_RZero_Refused()
    {
        var signature = Convert.FromHexString(DocsSignature);
        Array.Clear(signature, 0, 32);

        PersonalSign.RecoverAddress(PersonalSign.HashMessage("Some data"), signature).Error.ShouldBe(SignatureError.InvalidR);
    }

    [Fact]
    public void RecoverAddress_RAtCurveOrder_Refused()
    {
        var signature = Convert.FromHexString(DocsSignature);
        Scalar(N).CopyTo(signature, 0);

        PersonalSign.RecoverAddress(PersonalSign.HashMessage("Some data"), signature).Error.ShouldBe(SignatureError.InvalidR);
    }

    [Fact]
    public void RecoverAddress_SZero_Refused()
    {
        var signature = Convert.FromHexString(DocsSignature);
        Array.Clear(signature, 32, 32);

        PersonalSign.RecoverAddress(PersonalSign.HashMessage("Some data"), signature).Error.ShouldBe(SignatureError.InvalidS);
    }

    [Fact]
    public void RecoverAddress_SAtCurveOrder_Refused()
    {
        var signature = Convert.FromHexString(DocsSignature);
        Scalar(N).CopyTo(signature, 32);

        PersonalSign.RecoverAddress(PersonalSign.HashMessage("Some data"), signature).Error.ShouldBe(SignatureError.InvalidS);
    }

    [Fact]
    public void RecoverAddress_RNotAnXCoordinateOnTheCurve_Refused()
    {
        // x = 5: 5^3 + 7 is not a square mod p, so no point has that x.
        var signature = Convert.FromHexString(DocsSignature);
        Scalar(5).CopyTo(signature, 0);

        PersonalSign.RecoverAddress(PersonalSign.HashMessage("Some data"), signature).Error.ShouldBe(SignatureError.NoPublicKey);
    }

    [Fact]
    public void RecoverAddress_SignatureWhoseRecoveryIsThePointAtInfinity_Refused()
    {
        // R = kG with s = e/k makes sR = eG, so Q = r^-1 (sR - eG) is the point at infinity: a
        // signature anyone can build for their own message, which must be refused, not thrown on.
        var hash = PersonalSign.HashMessage("Some data");
        var k = Convert.FromHexString(DocsKey);
        var point = new EthECKey(k, isPrivate: true).GetPubKeyNoPrefix(false);
        var e = new BigInteger(hash, isUnsigned: true, isBigEndian: true) % N;
        var kValue = new BigInteger(k, isUnsigned: true, isBigEndian: true);
        var s = e * BigInteger.ModPow(kValue, N - 2, N) % N;
        var recoveryId = point[63] & 1;
        if (s > N / 2)
        {
            s = N - s;
            recoveryId ^= 1;
        }

        byte[] signature = [.. point.AsSpan(0, 32), .. Scalar(s), (byte)(27 + recoveryId)];

        PersonalSign.RecoverAddress(hash, signature).Error.ShouldBe(SignatureError.NoPublicKey);
    }

    [Theory]
    [InlineData(31)]
    [InlineData(33)]
    public void RecoverAddress_HashNot32Bytes_Refused(int length) =>
        PersonalSign.RecoverAddress(new byte[length], Convert.FromHexString(DocsSignature)).Error.ShouldBe(SignatureError.InvalidHashLength);

    internal static byte[] HighSTwin(byte[] signature)
    {
        var twin = signature.ToArray();
        Scalar(N - S(signature)).CopyTo(twin, 32);
        twin[64] = (byte)(twin[64] == 27 ? 28 : twin[64] == 28 ? 27 : twin[64] ^ 1);
        return twin;
    }

    private static BigInteger S(byte[] signature) => new(signature.AsSpan(32, 32), isUnsigned: true, isBigEndian: true);

    private static byte[] Scalar(BigInteger value)
    {
        var bytes = value.ToByteArray(isUnsigned: true, isBigEndian: true);
        return new byte[32 - bytes.Length].Concat(bytes).ToArray();
    }

    private static JsonElement Accounts() => Vectors.Load(File).GetProperty("private_key_to_address").GetProperty("items");
}
