using System.Globalization;
using Freeside.Features.Discord.Client;
using Microsoft.Extensions.Configuration;

namespace Freeside.Features.Discord;

/// <summary>The Discord capability's settings (README, "Configuration").</summary>
/// <param name="PublicKey">DISCORD_PUBLIC_KEY (64 hex digits); null: every interaction is refused (401).</param>
/// <param name="BotToken">DISCORD_BOT_TOKEN; null: no gateway session, and REST writes go unauthenticated (the fake).</param>
/// <param name="ApplicationId">DISCORD_APPLICATION_ID; needed for follow-ups and <c>discord register</c>.</param>
/// <param name="ApiUrl">DISCORD_API_URL: REST v10 base (a fake in tests).</param>
/// <param name="GatewayUrl">DISCORD_GATEWAY_URL: the gateway WebSocket.</param>
/// <param name="GatewayEnabled">DISCORD_GATEWAY_ENABLED: open a gateway session when a bot token is set (default true).</param>
/// <param name="RetryBase">DISCORD_QUEUE_RETRY_BASE_MS: the first retry's delay; each next one is 5× longer (5 s, 25 s, 125 s).</param>
public sealed record DiscordSettings(
    byte[]? PublicKey,
    string? BotToken,
    string? ApplicationId,
    Uri ApiUrl,
    Uri GatewayUrl,
    bool GatewayEnabled,
    TimeSpan RetryBase)
{
    /// <summary>Discord requires the initial answer within 3 s; timestamps further than this from now are replays.</summary>
    public static readonly TimeSpan MaxTimestampSkew = TimeSpan.FromMinutes(5);

    public bool InteractionsEnabled => PublicKey is not null;

    public static DiscordSettings Load(IConfiguration configuration, List<string> errors)
    {
        byte[]? key = null;
        if (configuration["DISCORD_PUBLIC_KEY"] is { Length: > 0 } hex)
        {
            if (InteractionSignature.TryParsePublicKey(hex, out var parsed))
            {
                key = parsed;
            }
            else
            {
                errors.Add("DISCORD_PUBLIC_KEY: must be the application's Ed25519 public key, 64 hex digits");
            }
        }

        var applicationId = configuration["DISCORD_APPLICATION_ID"] is { Length: > 0 } id ? id : null;
        if (applicationId is not null && (applicationId.Length > 20 || !applicationId.All(char.IsAsciiDigit)))
        {
            errors.Add("DISCORD_APPLICATION_ID: must be the application's numeric id (a snowflake)");
            applicationId = null;
        }

        var gatewayEnabled = true;
        if (configuration["DISCORD_GATEWAY_ENABLED"] is { Length: > 0 } rawGateway && !bool.TryParse(rawGateway, out gatewayEnabled))
        {
            errors.Add("DISCORD_GATEWAY_ENABLED: must be true or false");
        }

        var retryMs = 5000;
        if (configuration["DISCORD_QUEUE_RETRY_BASE_MS"] is { Length: > 0 } rawRetry
            && (!int.TryParse(rawRetry, NumberStyles.None, CultureInfo.InvariantCulture, out retryMs) || retryMs > 600_000))
        {
            errors.Add("DISCORD_QUEUE_RETRY_BASE_MS: must be a whole number of milliseconds from 0 to 600000");
            retryMs = 5000;
        }

        return new DiscordSettings(
            key,
            configuration["DISCORD_BOT_TOKEN"] is { Length: > 0 } token ? token : null,
            applicationId,
            Url(configuration, "DISCORD_API_URL", "https://discord.com/api/v10/", ["http", "https"], errors),
            Url(configuration, "DISCORD_GATEWAY_URL", "wss://gateway.discord.gg/", ["ws", "wss"], errors),
            gatewayEnabled,
            TimeSpan.FromMilliseconds(retryMs));
    }

    private static Uri Url(IConfiguration configuration, string name, string fallback, string[] schemes, List<string> errors)
    {
        if (configuration[name] is not { Length: > 0 } raw)
        {
            return new Uri(fallback);
        }

        if (Uri.TryCreate(raw.EndsWith('/') ? raw : raw + "/", UriKind.Absolute, out var url) && schemes.Contains(url.Scheme))
        {
            return url;
        }

        errors.Add($"{name}: must be an absolute {string.Join(" or ", schemes)} URL");
        return new Uri(fallback);
    }
}
