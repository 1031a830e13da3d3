using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Freeside.Features.WebChat;

/// <summary>The web chat socket's settings (README, "Configuration"); the protocol's hard limits are constants on <see cref="ChatSocket"/>.</summary>
public sealed record WebChatSettings(TimeSpan IdleTimeout, TimeSpan PingInterval, TimeSpan DrainTimeout, int FramesPerMinute, int FrameBurst)
{
    public static WebChatSettings Load(IConfiguration configuration, List<string> errors) => new(
        TimeSpan.FromSeconds(Whole(configuration, "WEBCHAT_IDLE_SECONDS", 300, 1, 86_400, errors)),
        TimeSpan.FromSeconds(Whole(configuration, "WEBCHAT_PING_SECONDS", 30, 1, 3_600, errors)),
        TimeSpan.FromSeconds(Whole(configuration, "WEBCHAT_DRAIN_SECONDS", 20, 0, 600, errors)),
        Whole(configuration, "WEBCHAT_FRAMES_PER_MINUTE", 60, 1, 100_000, errors),
        Whole(configuration, "WEBCHAT_FRAME_BURST", 20, 1, 100_000, errors));

    private static int Whole(IConfiguration configuration, string name, int fallback, int min, int max, List<string> errors)
    {
        if (configuration[name] is not { Length: > 0 } raw)
        {
            return fallback;
        }

        if (int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        errors.Add($"{name}: must be a whole number from {min} to {max}");
        return fallback;
    }
}
