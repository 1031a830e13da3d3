using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Freeside.Features.Common.Ethereum;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;
using Freeside.Tests.Infrastructure;
using Freeside.Tests.Payments;
using Freeside.Tests.Payments.NowPayments;
using Freeside.TelegramFake;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Telegram;

/// <summary>Freeside with the fake Bot API (in this process, on loopback), finn's stand-in, anvil and a NOWPayments fake.</summary>
public class TelegramApp : ChatApp
{
    public const string BotToken = "7000000001:test-bot-token_abcdefghijklmnop";
    public const string WebhookSecret = "test-webhook-secret_0123456789";
    public const string WebhookUrl = "https://bot.freeside.example/api/telegram/webhook";

    public FakeBotApi Bot { get; private set; } = null!;

    public NowPaymentsFake NowPayments { get; } = new();

    protected override async Task BeforeStartAsync()
    {
        await base.BeforeStartAsync();
        Bot = await FakeBotApi.StartAsync("http://127.0.0.1:0");
        await NowPayments.StartAsync();
    }

    protected override async Task AfterStopAsync()
    {
        await base.AfterStopAsync();
        await Bot.DisposeAsync();
        await NowPayments.DisposeAsync();
    }

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["TELEGRAM_BOT_TOKEN"] = BotToken;
        settings["TELEGRAM_WEBHOOK_SECRET"] = WebhookSecret;
        settings["TELEGRAM_WEBHOOK_URL"] = WebhookUrl;
        settings["TELEGRAM_API_URL"] = Bot.BaseUrl;
        settings["NOWPAYMENTS_IPN_SECRET"] = PaymentsApp.IpnSecret;
        settings["NOWPAYMENTS_API_KEY"] = PaymentsApp.ApiKey;
        settings["NOWPAYMENTS_API_URL"] = NowPayments.Url.ToString();
        return settings;
    }

    /// <summary>Posts an update to the webhook as Telegram does (with the secret unless told otherwise).</summary>
    public async Task<HttpResponseMessage> PostUpdateAsync(JsonObject update, string? secret = WebhookSecret)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/telegram/webhook")
        {
            Content = new StringContent(update.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (secret is not null)
        {
            request.Headers.Add("X-Telegram-Bot-Api-Secret-Token", secret);
        }

        return await CreateClient().SendAsync(request);
    }

    /// <summary>A user says <paramref name="text"/> and the test waits until the bot has sent <paramref name="replies"/> more messages to that chat.</summary>
    public async Task<IReadOnlyList<string>> SayAsync(long user, string text, int replies = 1)
    {
        var before = Bot.Messages(user).Count;
        var response = await PostUpdateAsync(Bot.MessageUpdate(user, text));
        response.EnsureSuccessStatusCode();
        await Bot.WaitUntilAsync(b => b.Messages(user).Count >= before + replies);
        return [.. Bot.Messages(user).Values.Skip(before)];
    }

    /// <summary>A chat id no earlier run used (the per-chat send allowance lives in Redis across runs).</summary>
    public static long NewUser() => Random.Shared.NextInt64(1_000_000_000, 9_000_000_000);

    public static async Task<JsonNode?> ReadAsync(HttpResponseMessage response) => JsonNode.Parse(await response.Content.ReadAsStringAsync());
}

internal static class TelegramTestKit
{
    /// <summary>
    /// /verify in the chat, then what the link page does in the browser: sign the EIP-4361 message whose
    /// Request ID is the link's token and post it (Linking). Returns the bot's replies from the /verify on.
    /// </summary>
    public static async Task<IReadOnlyList<string>> VerifyAsync(TelegramApp app, long user, TestWallet wallet)
    {
        var verify = (await app.SayAsync(user, "/verify")).Single();
        var url = new Uri(verify.Split('\n').Single(l => l.Contains("/link/", StringComparison.Ordinal)).Trim());
        var token = url.AbsolutePath.Replace("/link/", "", StringComparison.Ordinal);
        var client = app.CreateClient();
        var nonce = await IdentityHttp.NonceAsync(client);
        var message = "localhost wants you to sign in with your Ethereum account:\n"
            + wallet.Address.ToChecksumString() + "\n\n"
            + "Link my Telegram account to this wallet on Freeside.\n\n"
            + $"URI: http://localhost/link/{token}\nVersion: 1\nChain ID: 31337\nNonce: {nonce}\n"
            + $"Issued At: {SiweMessage.FormatTimestamp(DateTimeOffset.UtcNow)}\n"
            + $"Expiration Time: {SiweMessage.FormatTimestamp(DateTimeOffset.UtcNow.AddMinutes(10))}\n"
            + $"Request ID: {token}";
        var before = app.Bot.Messages(user).Count;
        var completed = await client.PostAsJsonAsync($"/api/v1/links/{token}", new { message, signature = wallet.Sign(message) });
        completed.IsSuccessStatusCode.ShouldBeTrue(await completed.Content.ReadAsStringAsync());
        await app.Bot.WaitUntilAsync(b => b.Messages(user).Count > before);
        return [verify, .. app.Bot.Messages(user).Values.Skip(before)];
    }
}
