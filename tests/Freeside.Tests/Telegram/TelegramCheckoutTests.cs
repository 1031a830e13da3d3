using System.Net;
using Freeside.Features.Telegram;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;
using Freeside.Tests.Payments;

namespace Freeside.Tests.Telegram;

[Collection(TelegramCollection.Name)]
public sealed class TelegramCheckoutTests(TelegramApp app)
{
    private const string Slug = "tg-shop";

    [Fact]
    public async Task BuyCredits_PackChosenAndPaid_CheckoutLinkThenOneCreditsArrivedMessage()
    {
        await ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection, grantMicro: 0);
        var user = TelegramApp.NewUser();
        await TelegramTestKit.VerifyAsync(app, user, TestWallet.Demo);
        await app.SayAsync(user, $"/agent {Slug} 1");

        var packs = await app.SayAsync(user, "/buy_credits");

        packs.Single().ShouldStartWith($"Top up {Slug}'s credits");
        var keyboardCall = app.Bot.CallsOf("sendMessage").Last(c => c.Parameters["chat_id"]!.GetValue<long>() == user);
        var buttons = keyboardCall.Parameters["reply_markup"]!["inline_keyboard"]!.AsArray().Select(row => row![0]!["callback_data"]!.GetValue<string>()).ToList();
        buttons.ShouldBe(["buy:starter", "buy:standard", "buy:premium"]);
        var keyboardMessage = app.Bot.Messages(user).Keys.Max();

        var before = app.Bot.Messages(user).Count;
        (await app.PostUpdateAsync(app.Bot.CallbackUpdate(user, "buy:standard", keyboardMessage))).EnsureSuccessStatusCode();
        await app.Bot.WaitUntilAsync(b => b.Messages(user).Count > before);

        var checkout = app.Bot.Messages(user).Values.Last();
        checkout.ShouldContain("Pay $10.00 for $10.50 of tg-shop credits here:");
        app.Bot.CallsOf("answerCallbackQuery").ShouldNotBeEmpty();
        var paymentId = await app.Database.ScalarAsync<Guid>("SELECT payment_id FROM telegram_checkouts WHERE chat_id = @c", ("c", user));
        var orderId = await app.Database.ScalarAsync<string>("SELECT order_id FROM payments WHERE id = @p", ("p", paymentId));
        var invoiceUrl = await app.Database.ScalarAsync<string>("SELECT invoice_url FROM payments WHERE id = @p", ("p", paymentId));
        checkout.ShouldContain(invoiceUrl!);

        var ipn = PaymentsTestKit.Ipn(orderId!, "finished", Random.Shared.NextInt64(1, long.MaxValue));
        var admin = app.CreateClient();
        (await admin.PostIpnAsync(ipn, PaymentsTestKit.Sign(ipn))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await admin.PostIpnAsync(ipn, PaymentsTestKit.Sign(ipn))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await app.Bot.WaitUntilAsync(b => b.Messages(user).Values.Any(m => m.Contains("credits arrived", StringComparison.Ordinal)));
        (await app.SayAsync(user, "/help")).ShouldNotBeEmpty();

        app.Bot.Messages(user).Values.Count(m => m.Contains("credits arrived", StringComparison.Ordinal)).ShouldBe(1);
        app.Bot.Messages(user).Values.ShouldContain("✅ Your $10.50 of credits arrived. Keep talking!");
        (await ChatHttp.AvailableAsync(app, Slug)).ShouldBe(10_500_000);
    }

    [Fact]
    public async Task ClaimCreditNotice_SamePaymentTwice_ClaimsOnce()
    {
        var paymentId = Guid.NewGuid();
        await app.Database.ExecuteAsync($"INSERT INTO telegram_checkouts (payment_id, chat_id, user_id, created_at) VALUES ('{paymentId}', 42, 42, now())");

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => app.SendAsync(new ClaimCreditNotice.Command(paymentId))));

        results.Count(r => r.Value == 42).ShouldBe(1);
        results.Count(r => r.Value is null).ShouldBe(7);
    }

    [Fact]
    public async Task BuyCredits_NoAgentSelected_AsksForOne()
    {
        var user = TelegramApp.NewUser();
        await TelegramTestKit.VerifyAsync(app, user, TestWallet.Demo);

        var replies = await app.SayAsync(user, "/buy_credits");

        replies.Single().ShouldStartWith("Pick an agent first");
    }
}
