namespace Freeside.TelegramFake;

/// <summary>
/// `./build.sh run` without TELEGRAM_BOT_TOKEN: a local Bot API for the bot to talk to (docs/telegram.md).
/// Not top-level statements: those would declare a global Program next to Freeside.Web's in the tests.
/// </summary>
internal static class FakeBotApiMain
{
    public static async Task Main()
    {
        var url = Environment.GetEnvironmentVariable("TELEGRAM_FAKE_URLS") ?? "http://127.0.0.1:5110";
        await using var fake = await FakeBotApi.StartAsync(url);
        Console.WriteLine($"fake Telegram Bot API on {fake.BaseUrl}");
        // Ctrl-C and SIGTERM stop the host (its console lifetime); then the fake is disposed.
        await fake.WaitForShutdownAsync();
    }
}
