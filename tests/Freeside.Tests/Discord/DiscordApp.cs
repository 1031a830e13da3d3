using Freeside.Tests.Infrastructure;
using Freeside.DiscordFake;

namespace Freeside.Tests.Discord;

/// <summary>Freeside wired to a <see cref="FakeDiscord"/>: interactions signed with the fake's key, writes sent to it.</summary>
public class DiscordApp : FreesideApp, IAsyncLifetime
{
    public FakeDiscord Discord { get; private set; } = null!;

    protected virtual int RetryBaseMs => 20;

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["DISCORD_PUBLIC_KEY"] = Discord.PublicKeyHex;
        settings["DISCORD_APPLICATION_ID"] = FakeDiscord.ApplicationId;
        settings["DISCORD_BOT_TOKEN"] = FakeDiscord.BotToken;
        settings["DISCORD_API_URL"] = Discord.ApiUrl.ToString();
        settings["DISCORD_GATEWAY_URL"] = Discord.GatewayUrl.ToString();
        settings["DISCORD_GATEWAY_ENABLED"] = "false";
        settings["DISCORD_QUEUE_RETRY_BASE_MS"] = RetryBaseMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return settings;
    }

    public new async Task InitializeAsync()
    {
        Discord = await FakeDiscord.StartAsync();
        await base.InitializeAsync();
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Discord.DisposeAsync();
    }

    /// <summary>Waits (polling the fake) until <paramref name="condition"/> holds; fails after a minute, which only a broken feature needs.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what, Func<string>? diagnostics = null)
    {
        for (var i = 0; i < 1200; i++)
        {
            if (condition())
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new ShouldAssertException("Timed out waiting for: " + what + (diagnostics is null ? "" : "\n" + diagnostics()));
    }
}
