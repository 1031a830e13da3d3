using Freeside.Features.Payments;
using Microsoft.Extensions.Configuration;

namespace Freeside.Tests.Payments;

public sealed class PaymentsSettingsTests
{
    private static (PaymentsSettings Settings, List<string> Errors) Load(bool development, params (string Key, string Value)[] values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build();
        var errors = new List<string>();
        return (PaymentsSettings.Load(configuration, development, errors), errors);
    }

    [Fact]
    public void Load_CustomPacks_ParsesIntegers()
    {
        var (settings, errors) = Load(true, ("FREESIDE_CREDIT_PACKS", "mini:1000000:1000000, big:100000000:125000000"));

        errors.ShouldBeEmpty();
        settings.Packs.ShouldBe([new CreditPack("mini", 1_000_000, 1_000_000), new CreditPack("big", 100_000_000, 125_000_000)]);
    }

    [Theory]
    [InlineData("starter:5.5:5000000")]
    [InlineData("starter:5000000")]
    [InlineData("Starter:1:1")]
    [InlineData("a:1:1,a:2:2")]
    [InlineData("a:0:1")]
    public void Load_BadPacks_NamesTheSetting(string packs)
    {
        var (_, errors) = Load(true, ("FREESIDE_CREDIT_PACKS", packs));

        errors.ShouldHaveSingleItem().ShouldStartWith("FREESIDE_CREDIT_PACKS:");
    }

    [Fact]
    public void Load_ProductionExplicitlyEnabledWithoutSecrets_Refuses()
    {
        Load(false, ("FEATURE_CRYPTO_PAYMENTS_ENABLED", "true")).Errors.ShouldHaveSingleItem().ShouldContain("NOWPAYMENTS_IPN_SECRET");
        Load(false, ("FEATURE_CRYPTO_PAYMENTS_ENABLED", "false")).Errors.ShouldBeEmpty();
        Load(false, ("NOWPAYMENTS_API_KEY", "k")).Errors.ShouldHaveSingleItem().ShouldContain("set both or neither");
    }

    [Fact]
    public void Load_NotConfigured_RunsWithoutCheckout()
    {
        var (settings, errors) = Load(false);

        errors.ShouldBeEmpty();
        settings.CheckoutAvailable.ShouldBeFalse();
    }
}
