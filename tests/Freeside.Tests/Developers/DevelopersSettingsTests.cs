using Freeside.Features.Developers;
using Microsoft.Extensions.Configuration;

namespace Freeside.Tests.Developers;

public sealed class DevelopersSettingsTests
{
    private static (DevelopersSettings Settings, List<string> Errors) Load(bool development, params (string Name, string Value)[] values)
    {
        var errors = new List<string>();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values.ToDictionary(v => v.Name, v => (string?)v.Value)).Build();
        return (DevelopersSettings.Load(configuration, development, errors), errors);
    }

    [Fact]
    public void Load_SeveralPeppers_NewestSigns()
    {
        var (settings, errors) = Load(false, ("API_KEY_PEPPER_V1", new string('a', 32)), ("API_KEY_PEPPER_V3", new string('c', 40)));

        errors.ShouldBeEmpty();
        settings.Peppers.Keys.Order().ShouldBe([1, 3]);
        settings.CurrentPepperVersion.ShouldBe(3);
        settings.KeysEnabled.ShouldBeTrue();
    }

    [Fact]
    public void Load_ShortPepper_NamesIt()
    {
        var (_, errors) = Load(false, ("API_KEY_PEPPER_V2", "short"));

        errors.ShouldHaveSingleItem().ShouldStartWith("API_KEY_PEPPER_V2:");
    }

    [Fact]
    public void Load_NoPepperOutsideDevelopment_KeysDisabled()
    {
        var (settings, errors) = Load(false);

        errors.ShouldBeEmpty();
        settings.KeysEnabled.ShouldBeFalse();
        Load(true).Settings.KeysEnabled.ShouldBeTrue();
    }

    [Theory]
    [InlineData("FREESIDE_SANDBOX_REQUESTS_PER_MINUTE", "0")]
    [InlineData("FREESIDE_SANDBOX_TOKENS_PER_DAY", "lots")]
    public void Load_BadSandboxLimit_NamesIt(string name, string value) =>
        Load(true, (name, value)).Errors.ShouldHaveSingleItem().ShouldStartWith(name + ":");
}
