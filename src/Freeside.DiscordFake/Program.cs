namespace Freeside.DiscordFake;

/// <summary>
/// `./build.sh run` without DISCORD_BOT_TOKEN: a local Discord for Freeside to talk to (docs/discord.md,
/// "The fake Discord"). Not top-level statements: those would declare a global Program next to Freeside.Web's in the tests.
/// </summary>
internal static class FakeDiscordMain
{
    public static async Task Main()
    {
        var url = Environment.GetEnvironmentVariable("DISCORD_FAKE_URLS") ?? "http://127.0.0.1:5120";
        var interactions = Environment.GetEnvironmentVariable("DISCORD_FAKE_INTERACTIONS_URL") is { Length: > 0 } raw ? new Uri(raw) : null;
        await using var fake = await FakeDiscord.StartAsync(url, interactions);
        Console.WriteLine($"fake Discord on {fake.Url} (public key {fake.PublicKeyHex})");
        // Ctrl-C and SIGTERM stop the host (its console lifetime); then the fake is disposed.
        await fake.WaitForShutdownAsync();
    }
}
