using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace Freeside.Features.Telegram;

/// <summary>The Telegram bot's settings (README, "Configuration"; docs/telegram.md).</summary>
/// <param name="BotToken">TELEGRAM_BOT_TOKEN; null turns the bot off (the webhook answers 401 to everything).</param>
/// <param name="WebhookSecret">TELEGRAM_WEBHOOK_SECRET: what Telegram sends in X-Telegram-Bot-Api-Secret-Token.</param>
/// <param name="WebhookUrl">TELEGRAM_WEBHOOK_URL: the public address of POST /api/telegram/webhook, registered with setWebhook at start-up.</param>
/// <param name="Polling">TELEGRAM_POLLING: long-poll getUpdates instead of a webhook (development).</param>
public sealed partial record TelegramSettings(string? BotToken, string? WebhookSecret, Uri? WebhookUrl, Uri ApiUrl, bool Polling, TimeSpan EditInterval)
{
    public static readonly Uri DefaultApiUrl = new("https://api.telegram.org");

    public bool Enabled => BotToken is not null;

    public static TelegramSettings Load(IConfiguration configuration, List<string> errors)
    {
        var token = configuration["TELEGRAM_BOT_TOKEN"] is { Length: > 0 } t ? t : null;
        if (token is not null && !TokenFormat().IsMatch(token))
        {
            errors.Add("TELEGRAM_BOT_TOKEN: must be a bot token as BotFather gives it (digits, a colon, then the secret)");
        }

        var secret = configuration["TELEGRAM_WEBHOOK_SECRET"] is { Length: > 0 } s ? s : null;
        if (secret is not null && !SecretFormat().IsMatch(secret))
        {
            // Telegram's own rule for secret_token; shorter than 16 would be guessable.
            errors.Add("TELEGRAM_WEBHOOK_SECRET: must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -");
        }

        var webhook = Url(configuration, "TELEGRAM_WEBHOOK_URL", errors, httpsOnly: false);
        var api = Url(configuration, "TELEGRAM_API_URL", errors, httpsOnly: false) ?? DefaultApiUrl;
        var polling = false;
        if (configuration["TELEGRAM_POLLING"] is { Length: > 0 } rawPolling && !bool.TryParse(rawPolling, out polling))
        {
            errors.Add("TELEGRAM_POLLING: must be true or false");
        }

        if (webhook is not null && (token is null || secret is null))
        {
            errors.Add("TELEGRAM_WEBHOOK_URL: needs TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET");
        }

        if (webhook is not null && polling)
        {
            errors.Add("TELEGRAM_POLLING: a bot either polls or has a webhook; unset TELEGRAM_WEBHOOK_URL to poll");
        }

        if (polling && token is null)
        {
            errors.Add("TELEGRAM_POLLING: needs TELEGRAM_BOT_TOKEN");
        }

        var interval = 1000;
        if (configuration["TELEGRAM_EDIT_INTERVAL_MS"] is { Length: > 0 } rawInterval
            && (!int.TryParse(rawInterval, NumberStyles.None, CultureInfo.InvariantCulture, out interval) || interval > 600_000))
        {
            errors.Add("TELEGRAM_EDIT_INTERVAL_MS: must be a whole number from 0 to 600000");
            interval = 1000;
        }

        return new TelegramSettings(token, secret, webhook, api, polling, TimeSpan.FromMilliseconds(interval));
    }

    private static Uri? Url(IConfiguration configuration, string name, List<string> errors, bool httpsOnly)
    {
        if (configuration[name] is not { Length: > 0 } raw)
        {
            return null;
        }

        if (Uri.TryCreate(raw, UriKind.Absolute, out var url) && (url.Scheme == "https" || (!httpsOnly && url.Scheme == "http")))
        {
            return url;
        }

        errors.Add($"{name}: must be an absolute http(s) URL");
        return null;
    }

    [GeneratedRegex("^[0-9]{1,20}:[A-Za-z0-9_-]{1,100}$", RegexOptions.CultureInvariant)]
    private static partial Regex TokenFormat();

    [GeneratedRegex("^[A-Za-z0-9_-]{16,256}$", RegexOptions.CultureInvariant)]
    private static partial Regex SecretFormat();
}
