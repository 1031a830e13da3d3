using Freeside.Features.Telegram;
using Microsoft.Extensions.Configuration;

namespace Freeside.Tests.Telegram;

public sealed class TelegramSettingsTests
{
    private static (TelegramSettings Settings, List<string> Errors) Load(params (string Key, string Value)[] values)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();
        var errors = new List<string>();
        return (TelegramSettings.Load(configuration, errors), errors);
    }

    [Fact]
    public void Load_Nothing_BotOffWithDefaults()
    {
        var (settings, errors) = Load();

        errors.ShouldBeEmpty();
        settings.Enabled.ShouldBeFalse();
        settings.ApiUrl.ShouldBe(TelegramSettings.DefaultApiUrl);
        settings.EditInterval.ShouldBe(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void Load_WebhookComplete_Accepted()
    {
        var (settings, errors) = Load(("TELEGRAM_BOT_TOKEN", "123:abc_DEF-g"), ("TELEGRAM_WEBHOOK_SECRET", "0123456789abcdef"),
            ("TELEGRAM_WEBHOOK_URL", "https://bot.example/api/telegram/webhook"));

        errors.ShouldBeEmpty();
        settings.Enabled.ShouldBeTrue();
        settings.WebhookUrl.ShouldBe(new Uri("https://bot.example/api/telegram/webhook"));
    }

    [Theory]
    [InlineData("TELEGRAM_BOT_TOKEN", "not a token", "TELEGRAM_BOT_TOKEN:")]
    [InlineData("TELEGRAM_WEBHOOK_SECRET", "short", "TELEGRAM_WEBHOOK_SECRET:")]
    [InlineData("TELEGRAM_WEBHOOK_SECRET", "has spaces in it and is long", "TELEGRAM_WEBHOOK_SECRET:")]
    [InlineData("TELEGRAM_WEBHOOK_URL", "https://bot.example/hook", "TELEGRAM_WEBHOOK_URL: needs")]
    [InlineData("TELEGRAM_API_URL", "ftp://x", "TELEGRAM_API_URL:")]
    [InlineData("TELEGRAM_POLLING", "yes", "TELEGRAM_POLLING:")]
    [InlineData("TELEGRAM_POLLING", "true", "TELEGRAM_POLLING: needs")]
    [InlineData("TELEGRAM_EDIT_INTERVAL_MS", "-1", "TELEGRAM_EDIT_INTERVAL_MS:")]
    public void Load_BadSetting_OneLineNamingIt(string key, string value, string expected)
    {
        var (_, errors) = Load((key, value));

        errors.ShouldHaveSingleItem().ShouldStartWith(expected);
    }

    [Fact]
    public void Load_PollingAndWebhook_Refused()
    {
        var (_, errors) = Load(("TELEGRAM_BOT_TOKEN", "123:abc"), ("TELEGRAM_WEBHOOK_SECRET", "0123456789abcdef"),
            ("TELEGRAM_WEBHOOK_URL", "https://bot.example/hook"), ("TELEGRAM_POLLING", "true"));

        errors.ShouldHaveSingleItem().ShouldStartWith("TELEGRAM_POLLING: a bot either polls");
    }
}
