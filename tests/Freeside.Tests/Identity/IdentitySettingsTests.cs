using Freeside.Features.Common.Configuration;
using Freeside.Features.Identity;
using Microsoft.Extensions.Configuration;

namespace Freeside.Tests.Identity;

public sealed class IdentitySettingsTests
{
    private static readonly Dictionary<string, string?> Valid = new()
    {
        ["DATABASE_URL"] = "postgres://freeside_app@db.internal:5432/freeside",
        ["FREESIDE_ADMIN_TOKEN"] = "an-admin-token-that-is-long-enough-for-prod",
        ["FREESIDE_KEY_ENCRYPTION_KEY"] = Convert.ToBase64String(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()),
        ["SIWE_DOMAINS"] = "app.example.com",
    };

    private static SettingsResult Load(Dictionary<string, string?> values, bool development = false) =>
        FreesideSettings.Load(new ConfigurationBuilder().AddInMemoryCollection(values).Build(), development);

    [Fact]
    public void Load_Production_WithoutKek_RefusesNamingIt()
    {
        var values = new Dictionary<string, string?>(Valid);
        values.Remove("FREESIDE_KEY_ENCRYPTION_KEY");

        var result = Load(values);

        result.Settings.ShouldBeNull();
        result.Errors.ShouldHaveSingleItem().ShouldStartWith("FREESIDE_KEY_ENCRYPTION_KEY:");
    }

    [Fact]
    public void Load_Production_WithoutSiweDomains_RefusesNamingIt()
    {
        var values = new Dictionary<string, string?>(Valid);
        values.Remove("SIWE_DOMAINS");

        Load(values).Errors.ShouldHaveSingleItem().ShouldStartWith("SIWE_DOMAINS:");
        Load(values, development: true).Settings.ShouldNotBeNull().Capability<IdentitySettings>().SiweDomains.ShouldBeEmpty();
    }

    [Fact]
    public void Load_Development_WithoutKek_UsesTheDevelopmentKek()
    {
        var values = new Dictionary<string, string?>(Valid);
        values.Remove("FREESIDE_KEY_ENCRYPTION_KEY");

        var identity = Load(values, development: true).Settings.ShouldNotBeNull().Capability<IdentitySettings>();

        identity.UsesDevelopmentKek.ShouldBeTrue();
        identity.KeyEncryptionKey.Length.ShouldBe(32);
    }

    [Fact]
    public void Load_Defaults_MatchTheIssue()
    {
        var identity = Load(Valid).Settings.ShouldNotBeNull().Capability<IdentitySettings>();

        identity.SiweChainIds.ShouldBe([1, 80094, 11155111, 31337]);
        identity.SessionLifetime.ShouldBe(TimeSpan.FromHours(1));
        identity.RetiredKeyGrace.ShouldBe(TimeSpan.FromHours(24));
        identity.ChainRpcTimeout.ShouldBe(TimeSpan.FromSeconds(5));
        identity.OwnershipCacheTtl.ShouldBe(TimeSpan.FromSeconds(60));
        identity.KeyEncryptionKey[31].ShouldBe((byte)31);
    }

    [Fact]
    public void Load_ChainRpcUrlsAndDomains_Parsed()
    {
        var values = new Dictionary<string, string?>(Valid)
        {
            ["CHAIN_RPC_URLS"] = "31337=http://127.0.0.1:8545; 1=https://eth.example/rpc",
            ["SIWE_DOMAINS"] = "app.freeside.dev, Chat.Freeside.dev:8443",
            ["FREESIDE_KEY_ENCRYPTION_KEY"] = new string('a', 64),
        };

        var identity = Load(values).Settings.ShouldNotBeNull().Capability<IdentitySettings>();

        identity.ChainRpcUrls[31337].ShouldBe(new Uri("http://127.0.0.1:8545"));
        identity.ChainRpcUrls[1].ShouldBe(new Uri("https://eth.example/rpc"));
        identity.SiweDomains.ShouldBe(["app.freeside.dev", "chat.freeside.dev:8443"]);
    }

    [Theory]
    [InlineData("FREESIDE_KEY_ENCRYPTION_KEY", "too-short")]
    [InlineData("SIWE_CHAIN_IDS", "1,zero")]
    [InlineData("SIWE_DOMAINS", "https://app.example/path")]
    [InlineData("CHAIN_RPC_URLS", "31337:http://127.0.0.1:8545")]
    [InlineData("CHAIN_RPC_URLS", "1=ftp://rpc.example")]
    [InlineData("SESSION_TTL_SECONDS", "forever")]
    [InlineData("JWKS_RETIRE_GRACE_SECONDS", "-1")]
    [InlineData("NFT_OWNERSHIP_CACHE_SECONDS", "99999")]
    [InlineData("FREESIDE_TRUST_FORWARDED_HOST", "maybe")]
    public void Load_BadIdentitySetting_NamesIt(string name, string value)
    {
        var result = Load(new Dictionary<string, string?>(Valid) { [name] = value });

        result.Settings.ShouldBeNull();
        result.Errors.ShouldHaveSingleItem().ShouldStartWith(name + ":");
    }
}
