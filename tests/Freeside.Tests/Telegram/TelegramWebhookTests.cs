using Freeside.Features.Common.Errors;
using System.Net;
using Freeside.Features.Telegram;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Telegram;

[CollectionDefinition(Name)]
public sealed class TelegramCollection : ICollectionFixture<TelegramApp>
{
    public const string Name = "telegram";
}

[Collection(TelegramCollection.Name)]
public sealed class TelegramWebhookTests(TelegramApp app)
{
    [Fact]
    public void Startup_WebhookUrlSet_RegistersItWithTheSecretToken()
    {
        app.Bot.WebhookUrl.ShouldBe(TelegramApp.WebhookUrl);
        app.Bot.WebhookSecret.ShouldBe(TelegramApp.WebhookSecret);
        app.Bot.CallsOf("setWebhook").ShouldContain(c => c.Token == TelegramApp.BotToken && c.Status == 200);
    }

    [Theory]
    [InlineData("test-webhook-secret_0123456788")]
    [InlineData("test-webhook-secret_012345678")]
    [InlineData("")]
    [InlineData(null)]
    public async Task Webhook_WrongOrMissingSecret_401AndNothingDispatched(string? secret)
    {
        var user = TelegramApp.NewUser();
        var update = app.Bot.MessageUpdate(user, "/help");

        var response = await app.PostUpdateAsync(update, secret);

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var updateId = update["update_id"]!.GetValue<long>();
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM telegram_updates WHERE update_id = @id", ("id", updateId))).ShouldBe(0);
        // A valid update for the same chat afterwards gets its one answer; the refused one never had any.
        await app.SayAsync(user, "/help");
        app.Bot.CallsOf("sendMessage").Count(c => c.Parameters["chat_id"]!.ToString() == user.ToString(System.Globalization.CultureInfo.InvariantCulture)).ShouldBe(1);
    }

    [Fact]
    public async Task Webhook_ReplayedUpdateId_ProcessedOnce()
    {
        var user = TelegramApp.NewUser();
        var update = app.Bot.MessageUpdate(user, "/help");

        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => app.PostUpdateAsync(update)));
        var again = await app.PostUpdateAsync(update);

        responses.Append(again).ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
        var accepted = new List<bool>();
        foreach (var response in responses.Append(again))
        {
            accepted.Add((await TelegramApp.ReadAsync(response))!["accepted"]!.GetValue<bool>());
        }

        accepted.Count(a => a).ShouldBe(1);
        // A later update of the same chat is answered after the replay was either handled or dropped (one queue);
        // the chat holds that answer and exactly one /help answer.
        await app.SayAsync(user, "/balance");
        await app.Bot.WaitUntilAsync(b => b.Messages(user).Count >= 2);
        app.Bot.Messages(user).Values.Count(t => t.Contains("/verify — link your wallet", StringComparison.Ordinal)).ShouldBe(1);
    }

    [Fact]
    public async Task Webhook_NotAnUpdate_400NamingBody()
    {
        var response = await app.PostUpdateAsync(new System.Text.Json.Nodes.JsonObject { ["hello"] = "world" });

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await TelegramApp.ReadAsync(response))!["errors"]!["body"].ShouldNotBeNull();
    }

    [Fact]
    public async Task Start_NewUser_WelcomesAndPointsToVerify()
    {
        var user = TelegramApp.NewUser();

        var replies = await app.SayAsync(user, "/start");

        replies.Single().ShouldContain("Welcome to Freeside");
        replies.Single().ShouldContain("Start with /verify");
    }

    [Fact]
    public async Task UnknownCommand_SaysSoAndPointsToHelp()
    {
        var user = TelegramApp.NewUser();

        var replies = await app.SayAsync(user, "/dance");

        replies.Single().ShouldBe("I don't know /dance. /help lists what I can do.");
    }

    [Fact]
    public async Task SendMessage_Answered429_WaitsRetryAfterThenDelivers()
    {
        var user = TelegramApp.NewUser();
        app.Bot.FailNextWith429("sendMessage", 1);
        var before = app.Bot.Calls.Count;

        var replies = await app.SayAsync(user, "/help");

        replies.Single().ShouldContain("/buy_credits");
        var sends = app.Bot.Calls.Skip(before).Where(c => c.Method == "sendMessage").ToList();
        var refused = sends.First(c => c.Status == 429);
        var delivered = sends.Single(c => c.Status == 200 && c.Parameters["chat_id"]!.ToString() == user.ToString(System.Globalization.CultureInfo.InvariantCulture));
        (delivered.At - refused.At).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task SendText_EightToOneChatAtOnce_PacedToTheChatsAllowanceWithoutA429()
    {
        // telegram-send-chat: a burst of 5, then one a second. Sent all at once, the sixth of any run
        // of six leaves at least a second after the first, and Telegram never has to refuse one.
        var chat = TelegramApp.NewUser();
        var bot = app.Services.GetRequiredService<TelegramBot>();
        var before = app.Bot.Calls.Count;

        await Task.WhenAll(Enumerable.Range(1, 8).Select(i => bot.SendTextAsync(chat, $"paced {i}", null, CancellationToken.None)));

        var chatId = chat.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var sends = app.Bot.Calls.Skip(before).Where(c => c.Method == "sendMessage" && c.Parameters["chat_id"]!.ToString() == chatId).OrderBy(c => c.At).ToList();
        sends.Count.ShouldBe(8);
        sends.ShouldAllBe(c => c.Status == 200);
        for (var i = 0; i + 5 < sends.Count; i++)
        {
            (sends[i + 5].At - sends[i].At).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(900));
        }
    }

    [Fact]
    public void SecretMatches_ComparesWholeSecretOnly()
    {
        var settings = new TelegramSettings("1:a", "abcdefghijklmnop", null, TelegramSettings.DefaultApiUrl, false, TimeSpan.Zero);

        ReceiveUpdate.Handler.SecretMatches(settings, "abcdefghijklmnop").ShouldBeTrue();
        ReceiveUpdate.Handler.SecretMatches(settings, "abcdefghijklmno").ShouldBeFalse();
        ReceiveUpdate.Handler.SecretMatches(settings, "abcdefghijklmnopq").ShouldBeFalse();
        ReceiveUpdate.Handler.SecretMatches(settings with { WebhookSecret = null }, "").ShouldBeFalse();
        ReceiveUpdate.Handler.SecretMatches(settings with { BotToken = null }, "abcdefghijklmnop").ShouldBeFalse();
    }
}

[Collection(TelegramCollection.Name)]
public sealed class TelegramRecoveryTests(TelegramApp app)
{
    [Fact]
    public async Task Update_Handled_IsMarkedAndItsBodyDropped()
    {
        var user = TelegramApp.NewUser();
        var update = app.Bot.MessageUpdate(user, "/help");
        var updateId = update["update_id"]!.GetValue<long>();

        await app.PostUpdateAsync(update);
        await app.Bot.WaitUntilAsync(b => b.Messages(user).Count >= 1);
        await WaitHandledAsync(updateId);

        (await app.Database.ScalarAsync<bool>("SELECT body IS NULL FROM telegram_updates WHERE update_id = @id", ("id", updateId))).ShouldBeTrue();
    }

    [Fact]
    public async Task Update_AcceptedByAProcessThatDied_IsTakenOverOnceAndAnswered()
    {
        // What a process leaves when it dies after answering Telegram's webhook: the update recorded and
        // claimed, never handled (Telegram will not deliver it again).
        var user = TelegramApp.NewUser();
        var update = app.Bot.MessageUpdate(user, "/help");
        var updateId = update["update_id"]!.GetValue<long>();
        await app.Database.ExecuteAsync($"""
            INSERT INTO telegram_updates (update_id, kind, received_at, body, claimed_at)
            VALUES ({updateId}, 'Message', now() - interval '11 minutes', '{update.ToJsonString().Replace("'", "''", StringComparison.Ordinal)}', now() - interval '11 minutes')
            """);

        var claims = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => app.SendAsync(new ClaimStrandedUpdates.Command())));
        var recovered = claims.SelectMany(c => c.Value).Where(u => u.Id == updateId).ToList();
        foreach (var stranded in recovered)
        {
            app.Services.GetRequiredService<TelegramUpdateQueue>().Enqueue(stranded);
        }

        recovered.Count.ShouldBe(1);
        await app.Bot.WaitUntilAsync(b => b.Messages(user).Count >= 1);
        app.Bot.Messages(user).Values.Count(t => t.Contains("/verify — link your wallet", StringComparison.Ordinal)).ShouldBe(1);
        await WaitHandledAsync(updateId);
        (await app.SendAsync(new ClaimStrandedUpdates.Command())).Value.ShouldNotContain(u => u.Id == updateId);
    }

    [Fact]
    public async Task Update_ClaimedRecently_IsNotTakenOver()
    {
        var user = TelegramApp.NewUser();
        var update = app.Bot.MessageUpdate(user, "/help");
        var updateId = update["update_id"]!.GetValue<long>();
        await app.Database.ExecuteAsync($"""
            INSERT INTO telegram_updates (update_id, kind, received_at, body, claimed_at)
            VALUES ({updateId}, 'Message', now() - interval '1 minute', '{update.ToJsonString().Replace("'", "''", StringComparison.Ordinal)}', now() - interval '1 minute')
            """);

        (await app.SendAsync(new ClaimStrandedUpdates.Command())).Value.ShouldNotContain(u => u.Id == updateId);
    }

    [Fact]
    public async Task PurgeUpdates_HandledOlderThanAWeek_DeletedInBatchesWhilePendingAndRecentAreKept()
    {
        var first = Random.Shared.NextInt64(5_000_000_000, 6_000_000_000);
        long[] oldHandled = [first, first + 1, first + 2];
        var recentHandled = first + 3;
        var oldPending = first + 4;
        foreach (var id in oldHandled)
        {
            await app.Database.ExecuteAsync($"INSERT INTO telegram_updates (update_id, kind, received_at, claimed_at, handled_at) VALUES ({id}, 'Message', now() - interval '8 days', now() - interval '8 days', now() - interval '8 days')");
        }

        await app.Database.ExecuteAsync($"INSERT INTO telegram_updates (update_id, kind, received_at, claimed_at, handled_at) VALUES ({recentHandled}, 'Message', now() - interval '6 days', now() - interval '6 days', now() - interval '6 days')");
        await app.Database.ExecuteAsync($"INSERT INTO telegram_updates (update_id, kind, received_at, body, claimed_at) VALUES ({oldPending}, 'Message', now() - interval '8 days', '{{}}', now() - interval '8 days')");

        var batches = new List<int>();
        Result<int> purged;
        do
        {
            purged = await app.SendAsync(new PurgeUpdates.Command(Limit: 2));
            batches.Add(purged.Value);
        }
        while (purged.Value == 2);

        batches.Sum().ShouldBeGreaterThanOrEqualTo(oldHandled.Length);
        var left = await app.Database.ScalarAsync<long[]>(
            "SELECT coalesce(array_agg(update_id ORDER BY update_id), '{}') FROM telegram_updates WHERE update_id BETWEEN @from AND @to", ("from", first), ("to", first + 4));
        left.ShouldBe([recentHandled, oldPending]);
    }

    private async Task WaitHandledAsync(long updateId)
    {
        for (var i = 0; i < 200; i++)
        {
            if (await app.Database.ScalarAsync<bool>("SELECT handled_at IS NOT NULL FROM telegram_updates WHERE update_id = @id", ("id", updateId)))
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"update {updateId} was never marked handled");
    }
}
