using Freeside.Features.Inference;
using Freeside.Features.Telegram;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Telegram;

[Collection(TelegramCollection.Name)]
public sealed class TelegramChatTests(TelegramApp app)
{
    private const string Slug = "tg-chat";

    private Task SeedAsync() => ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection);

    [Fact]
    public async Task VerifyAgentMessage_Holder_StreamedReplyChargedOnceEvenWhenReplayed()
    {
        await SeedAsync();
        var user = TelegramApp.NewUser();
        var verified = await TelegramTestKit.VerifyAsync(app, user, TestWallet.Demo);
        verified[0].ShouldContain("/link/");
        verified[^1].ShouldContain($"Wallet {TestWallet.Demo.Address.ToChecksumString()} is linked");
        (await app.SayAsync(user, $"/agent {Slug} 1")).Single().ShouldBe($"You are now talking to the agent of {Slug} #1. Say something!");
        var before = await ChatHttp.AvailableAsync(app, Slug);
        var reservations = await ChatHttp.ReservationsAsync(app);
        var message = app.Bot.MessageUpdate(user, "hello agent");
        var sentBefore = app.Bot.Messages(user).Count;

        (await app.PostUpdateAsync(message)).EnsureSuccessStatusCode();
        // Done when the chat shows what was stored as the answer (the last edit follows the stored turn).
        const string storedSql = "SELECT coalesce(max(content), '') FROM agent_messages WHERE source = 'telegram' AND role = 'assistant'";
        await app.Bot.WaitUntilAsync(b => b.Messages(user).Skip(sentBefore).FirstOrDefault().Value is { } shown
            && shown == app.Database.ScalarAsync<string>(storedSql).GetAwaiter().GetResult());
        (await app.PostUpdateAsync(message)).EnsureSuccessStatusCode();
        (await app.SayAsync(user, "/help")).ShouldNotBeEmpty();

        // One reply message: sent as the placeholder, then edited into the agent's text.
        var reply = app.Bot.Messages(user).Skip(sentBefore).First();
        reply.Value.ShouldNotBe(TelegramReplySink.Placeholder);
        reply.Value.Length.ShouldBeGreaterThan(0);
        app.Bot.CallsOf("editMessageText").ShouldContain(c => c.Parameters["message_id"]!.GetValue<int>() == reply.Key);
        app.Bot.Messages(user).Values.Count(v => v == reply.Value).ShouldBe(1);
        // Charged once: one reservation for the message, the balance dropped by what it cost.
        (await ChatHttp.ReservationsAsync(app) - reservations).ShouldBe(1);
        var cost = await app.Database.ScalarAsync<long>("SELECT coalesce(sum(cost_micro), 0) FROM agent_messages WHERE source = 'telegram' AND role = 'assistant'");
        cost.ShouldBeGreaterThan(0);
        (before - await ChatHttp.AvailableAsync(app, Slug)).ShouldBe(cost);
        (await ChatHttp.PendingHoldsAsync(app)).ShouldBe(0);
        await ChatHttp.ConservationHoldsAsync(app, Slug);
    }

    [Fact]
    public async Task Agent_NotTheHolder_RefusedAndNothingSelected()
    {
        await SeedAsync();
        var user = TelegramApp.NewUser();
        await TelegramTestKit.VerifyAsync(app, user, TestWallet.Third);

        var replies = await app.SayAsync(user, $"/agent {Slug} 1");

        replies.Single().ShouldContain("does not hold token 1");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM telegram_chats WHERE chat_id = @c", ("c", user))).ShouldBe(0);
    }

    [Fact]
    public async Task Message_AfterRelinkToANonHolder_RefusedPerMessageAndReservesNothing()
    {
        await SeedAsync();
        var user = TelegramApp.NewUser();
        await TelegramTestKit.VerifyAsync(app, user, TestWallet.Demo);
        await app.SayAsync(user, $"/agent {Slug} 3");
        await TelegramTestKit.VerifyAsync(app, user, TestWallet.Third);
        var reservations = await ChatHttp.ReservationsAsync(app);

        var replies = await app.SayAsync(user, "still there?");

        replies.Single().ShouldStartWith("Only the wallet that holds this NFT may talk to its agent.");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
    }

    [Fact]
    public async Task Message_WithoutLinkedWallet_AsksToVerifyAndReservesNothing()
    {
        var user = TelegramApp.NewUser();
        var reservations = await ChatHttp.ReservationsAsync(app);

        var replies = await app.SayAsync(user, "hello?");

        replies.Single().ShouldBe("Link your wallet first: /verify");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
    }

    [Fact]
    public async Task Balance_AfterAgentSelected_ShowsCommunityCredits()
    {
        await SeedAsync();
        var user = TelegramApp.NewUser();
        await TelegramTestKit.VerifyAsync(app, user, TestWallet.Demo);
        await app.SayAsync(user, $"/agent {Slug} 2");
        var available = await ChatHttp.AvailableAsync(app, Slug);

        var replies = await app.SayAsync(user, "/balance");

        replies.Single().ShouldContain($"({available} micro-USD)");
    }

    [Fact]
    public async Task ReplySink_LongReply_SplitAt4096IntoFollowUpMessages()
    {
        var chat = TelegramApp.NewUser();
        var bot = app.Services.GetRequiredService<TelegramBot>();
        var sink = new TelegramReplySink(bot, chat, TimeSpan.FromDays(1), TimeProvider.System);
        var text = string.Concat(Enumerable.Range(0, 1_000).Select(i => $"word{i} ")) + new string('x', 5_000);

        await sink.StartAsync(new Chat.Started(Guid.NewGuid(), Guid.NewGuid(), "cheap", "p"), CancellationToken.None);
        foreach (var piece in text.Chunk(37))
        {
            await sink.TokenAsync(new string(piece), CancellationToken.None);
        }

        await sink.EndAsync(new Chat.Ended(1, 1, 1, 1), CancellationToken.None);

        var messages = app.Bot.Messages(chat).Values.ToList();
        messages.Count.ShouldBe(4);
        messages.ShouldAllBe(m => m.Length <= 4096);
        string.Concat(messages).ShouldBe(text);
        // Throttled to the end: one placeholder, one edit of it, the rest sent as new messages.
        app.Bot.CallsOf("editMessageText").Count(c => c.Parameters["chat_id"]!.GetValue<long>() == chat).ShouldBe(1);
    }

    [Fact]
    public async Task ReplySink_Tokens_EditedAtMostOncePerInterval()
    {
        var chat = TelegramApp.NewUser();
        var bot = app.Services.GetRequiredService<TelegramBot>();
        var clock = new StepClock();
        var sink = new TelegramReplySink(bot, chat, TimeSpan.FromSeconds(1), clock);

        await sink.StartAsync(new Chat.Started(Guid.NewGuid(), Guid.NewGuid(), "cheap", "p"), CancellationToken.None);
        await sink.TokenAsync("a", CancellationToken.None);
        clock.Advance(TimeSpan.FromMilliseconds(500));
        await sink.TokenAsync("b", CancellationToken.None);
        clock.Advance(TimeSpan.FromMilliseconds(500));
        await sink.TokenAsync("c", CancellationToken.None);
        clock.Advance(TimeSpan.FromMilliseconds(200));
        await sink.TokenAsync("d", CancellationToken.None);
        await sink.EndAsync(new Chat.Ended(1, 1, 1, 1), CancellationToken.None);

        app.Bot.CallsOf("editMessageText").Where(c => c.Parameters["chat_id"]!.GetValue<long>() == chat)
            .Select(c => c.Parameters["text"]!.GetValue<string>()).ShouldBe(["abc", "abcd"]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4095)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(20_000)]
    public void Split_AnyLength_PagesWithinLimitAndLossless(int length)
    {
        var text = string.Concat(Enumerable.Range(0, length).Select(i => i % 97 == 0 ? ' ' : (char)('a' + (i % 26))));
        text = text.Length > 10 ? text[..^2] + "😀" : text;

        var pages = TelegramReplySink.Split(text, 4096);

        pages.ShouldAllBe(p => p.Length <= 4096 && p.Length > 0);
        (text.Length == 0 ? TelegramReplySink.Placeholder : text).ShouldBe(string.Concat(pages));
        pages.Where(p => char.IsHighSurrogate(p[p.Length - 1])).ShouldBeEmpty();
    }

    private sealed class StepClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public void Advance(TimeSpan by) => _now += by;

        public override DateTimeOffset GetUtcNow() => _now;
    }
}
