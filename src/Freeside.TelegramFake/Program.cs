using Freeside.TelegramFake;

// `./build.sh run` without TELEGRAM_BOT_TOKEN: a local Bot API for the bot to talk to (docs/telegram.md).
var url = Environment.GetEnvironmentVariable("TELEGRAM_FAKE_URLS") ?? "http://127.0.0.1:5110";
await using var fake = await FakeBotApi.StartAsync(url);
Console.WriteLine($"fake Telegram Bot API on {fake.BaseUrl}");
var stop = new TaskCompletionSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.TrySetResult();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.TrySetResult();
await stop.Task;
