using Freeside.Tests.Infrastructure;
using Freeside.TelegramFake;

namespace Freeside.Tests.Telegram;

/// <summary>Freeside long-polling the fake Bot API (TELEGRAM_POLLING=true, no webhook).</summary>
public sealed class PollingApp : FreesideApp, IAsyncLifetime
{
    public FakeBotApi Bot { get; } = FakeBotApi.StartAsync("http://127.0.0.1:0").GetAwaiter().GetResult();

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["TELEGRAM_BOT_TOKEN"] = TelegramApp.BotToken;
        settings["TELEGRAM_POLLING"] = "true";
        settings["TELEGRAM_API_URL"] = Bot.BaseUrl;
        return settings;
    }

    public new Task InitializeAsync() => base.InitializeAsync();

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Bot.DisposeAsync();
    }
}

public sealed class TelegramPollingTests(PollingApp app) : IClassFixture<PollingApp>
{
    [Fact]
    public async Task Polling_UpdateQueued_AnsweredOnceAndConfirmedByOffset()
    {
        var user = TelegramApp.NewUser();
        var update = app.Bot.MessageUpdate(user, "/start");
        var id = update["update_id"]!.GetValue<long>();

        await app.Bot.DeliverAsync(update);
        await app.Bot.WaitUntilAsync(b => b.Messages(user).Count == 1);
        await app.Bot.WaitUntilAsync(b => b.CallsOf("getUpdates").Any(c => c.Parameters["offset"]?.GetValue<long>() == id + 1));

        app.Bot.Messages(user).Values.Single().ShouldContain("Welcome to Freeside");
        app.Bot.CallsOf("deleteWebhook").ShouldNotBeEmpty();
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM telegram_updates WHERE update_id = @id", ("id", id))).ShouldBe(1);
    }
}
