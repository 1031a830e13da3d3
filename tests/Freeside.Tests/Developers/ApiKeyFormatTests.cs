using Freeside.Features.Developers;

namespace Freeside.Tests.Developers;

public sealed class ApiKeyFormatTests
{
    private const string Id = "ABCDEFGHJK23";
    private const string Secret = "0123456789abcdefghijABCDEFGHIJzz";

    [Fact]
    public void TryParse_LiveAndTestKeys_ReadIdModeAndSecret()
    {
        ApiKeyFormat.TryParse($"lf_live_{Id}_{Secret}", out var live).ShouldBeTrue();
        live.ShouldBe(new ParsedApiKey(Id, true, Secret));
        ApiKeyFormat.TryParse($"lf_test_{Id}_{Secret}", out var test).ShouldBeTrue();
        test.Live.ShouldBeFalse();
    }

    [Theory]
    [InlineData("")]
    [InlineData("lf_live_ABCDEFGHJK23_0123456789abcdefghijABCDEFGHIJz")] // secret one short
    [InlineData("lf_live_ABCDEFGHJK23_0123456789abcdefghijABCDEFGHIJzzz")] // secret one long
    [InlineData("lf_live_ABCDEFGHJK2_0123456789abcdefghijABCDEFGHIJzzz")] // id one short
    [InlineData("lf_live_abcdefghjk23_0123456789abcdefghijABCDEFGHIJzz")] // lower-case id
    [InlineData("lf_live_ABCDEFGHJK18_0123456789abcdefghijABCDEFGHIJzz")] // 1 and 8 are not base32
    [InlineData("lf_prod_ABCDEFGHJK23_0123456789abcdefghijABCDEFGHIJzz")]
    [InlineData("sk-live_ABCDEFGHJK23_0123456789abcdefghijABCDEFGHIJzz")]
    [InlineData("LF_LIVE_ABCDEFGHJK23_0123456789abcdefghijABCDEFGHIJzz")]
    [InlineData("lf_live_ABCDEFGHJK23-0123456789abcdefghijABCDEFGHIJzz")]
    [InlineData("lf_live_ABCDEFGHJK23_0123456789abcdefghijABCDEFGHIJz!")]
    [InlineData("lf_live_ABCDEFGHJK23_0123456789abcdefghijABCDEFGHIJzé")]
    public void TryParse_Malformed_Refused(string key) => ApiKeyFormat.TryParse(key, out _).ShouldBeFalse();

    [Fact]
    public void NewIdAndSecret_MatchTheFormat()
    {
        for (var i = 0; i < 200; i++)
        {
            var key = ApiKeyFormat.Format(ApiKeyFormat.NewId(), i % 2 == 0, ApiKeyFormat.NewSecret());
            ApiKeyFormat.TryParse(key, out var parsed).ShouldBeTrue(key);
            parsed.Live.ShouldBe(i % 2 == 0);
        }
    }

    [Fact]
    public void Hash_DependsOnPepperSaltAndSecret()
    {
        var salt = new byte[16];
        var pepper1 = "pepper-one-pepper-one-pepper-one-1"u8.ToArray();
        var pepper2 = "pepper-two-pepper-two-pepper-two-2"u8.ToArray();
        var baseline = ApiKeyVerifier.Hash(pepper1, salt, Secret);
        baseline.Length.ShouldBe(32);
        ApiKeyVerifier.Hash(pepper2, salt, Secret).ShouldNotBe(baseline);
        ApiKeyVerifier.Hash(pepper1, [.. salt[..15], 1], Secret).ShouldNotBe(baseline);
        ApiKeyVerifier.Hash(pepper1, salt, Secret[..^1] + "y").ShouldNotBe(baseline);
        ApiKeyVerifier.Hash(pepper1, salt, Secret).ShouldBe(baseline);
    }
}
