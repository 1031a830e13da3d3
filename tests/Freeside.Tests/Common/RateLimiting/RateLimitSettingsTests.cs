using Freeside.Features.Common.RateLimiting;
using Microsoft.Extensions.Configuration;

namespace Freeside.Tests.Common.RateLimiting;

public sealed class RateLimitSettingsTests
{
    private static (RateLimitSettings Settings, List<string> Errors) Load(params (string Key, string Value)[] values)
    {
        var errors = new List<string>();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values.ToDictionary(v => v.Key, v => (string?)v.Value)).Build();
        return (RateLimitSettings.Load(configuration, errors), errors);
    }

    [Fact]
    public void Load_Nothing_TheIssuesDefaults()
    {
        var (settings, errors) = Load();

        errors.ShouldBeEmpty();
        settings.Policy(RateLimitPolicies.Anonymous).ShouldBe(new RateLimitPolicy("anonymous", RateLimitAlgorithm.TokenBucket, 100, TimeSpan.FromMinutes(1), 20));
        settings.Policy(RateLimitPolicies.SiweNonce).ShouldBe(new RateLimitPolicy("siwe-nonce", RateLimitAlgorithm.SlidingWindow, 20, TimeSpan.FromMinutes(5)));
        settings.TrustedProxies.ShouldBeEmpty();
    }

    [Fact]
    public void Load_Overrides_ParsesPoliciesAndProxies()
    {
        var (settings, errors) = Load(
            ("FREESIDE_RATE_LIMIT_ANONYMOUS", "300/1m,burst=50"),
            ("FREESIDE_RATE_LIMIT_SIWE_SIGN_IN_ADDRESS", "5/1h"),
            ("FREESIDE_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7 2001:db8::/32"));

        errors.ShouldBeEmpty();
        settings.Policy(RateLimitPolicies.Anonymous).ShouldBe(new RateLimitPolicy("anonymous", RateLimitAlgorithm.TokenBucket, 300, TimeSpan.FromMinutes(1), 50));
        settings.Policy(RateLimitPolicies.SiweSignInPerAddress).Window.ShouldBe(TimeSpan.FromHours(1));
        settings.TrustedProxies.Select(p => p.ToString()).ShouldBe(["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
    }

    [Theory]
    [InlineData("FREESIDE_RATE_LIMIT_ANONYMOUS", "100/60s")]          // a token bucket needs its burst
    [InlineData("FREESIDE_RATE_LIMIT_SIWE_NONCE", "20/300s,burst=5")] // a window has none
    [InlineData("FREESIDE_RATE_LIMIT_SIWE_NONCE", "0/300s")]
    [InlineData("FREESIDE_RATE_LIMIT_SIWE_NONCE", "twenty")]
    [InlineData("FREESIDE_RATE_LIMIT_SIWE_SIGN_IN_IP", "5/2d")]
    [InlineData("FREESIDE_TRUSTED_PROXIES", "10.0.0.0/33")]
    [InlineData("FREESIDE_TRUSTED_PROXIES", "proxy.internal")]
    public void Load_BadValue_OneErrorNamingTheSetting(string name, string value)
    {
        var (_, errors) = Load((name, value));

        errors.ShouldHaveSingleItem().ShouldStartWith(name + ":");
    }
}
