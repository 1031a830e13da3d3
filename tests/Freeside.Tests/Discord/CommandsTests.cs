using System.Text.Json;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Discord;
using Freeside.Features.Payments;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Freeside.DiscordFake;

namespace Freeside.Tests.Discord;

public sealed class CommandsTests(DiscordApp app) : IClassFixture<DiscordApp>
{
    private static EthereumAddress Wallet => EthereumAddress.TryParse("0x" + new string('1', 40), out var address) ? address : throw new InvalidOperationException();

    [Fact]
    public async Task Register_AgainstDiscord_OverwritesTheFourCommandsOnce()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await RegisterCommands.RunAsync(app.Services.GetRequiredService<FreesideSettings>(), output, error, CancellationToken.None);

        code.ShouldBe(0, error.ToString());
        var put = app.Discord.Requests.Single(r => r.Path == $"applications/{FakeDiscord.ApplicationId}/commands");
        put.Method.ShouldBe("PUT");
        put.Authorization.ShouldBe("Bot " + FakeDiscord.BotToken);
        var names = JsonDocument.Parse(put.Body).RootElement.EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
        names.ShouldBe(["verify", "my-agent", "agent-info", "buy-credits"]);
        var amount = JsonDocument.Parse(put.Body).RootElement[3].GetProperty("options")[0];
        amount.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("value").GetInt32()).ShouldBe([5, 10, 25]);
    }

    [Fact]
    public async Task PaymentCredited_CheckoutFromDiscord_OneDmToTheBuyer()
    {
        var paymentId = Guid.NewGuid();
        await app.Database.ExecuteAsync("INSERT INTO communities (id, slug, name, chain_id, collection_address, default_access_level, created_at) VALUES "
            + $"('{Guid.NewGuid()}', 'dm-shop', 'DM shop', 31337, '0x{new string('c', 40)}', 'free', now()) ON CONFLICT DO NOTHING");
        (await app.SendAsync(new RecordCheckout.Command(paymentId, "777000000000000042", "dm-shop"))).IsSuccess.ShouldBeTrue();
        var credited = new PaymentCredited(paymentId, Wallet, null, false, 5_000_000);

        await app.InScopeAsync(async s =>
        {
            await s.GetRequiredService<IMediator>().Publish(credited);
            await s.GetRequiredService<IMediator>().Publish(credited);
            return 0;
        });

        await DiscordApp.EventuallyAsync(() => app.Discord.Requests.Any(r => r.Body.Contains("have arrived", StringComparison.Ordinal)), "the DM");
        var open = app.Discord.Requests.Single(r => r.Path == "users/@me/channels");
        open.Body.ShouldContain("777000000000000042");
        app.Discord.Requests.Count(r => r.Body.Contains("have arrived", StringComparison.Ordinal)).ShouldBe(1);
        app.Discord.Requests.Single(r => r.Body.Contains("have arrived", StringComparison.Ordinal)).Path.ShouldStartWith("channels/");
    }

    [Fact]
    public async Task PaymentCredited_NotFromDiscord_NoDm()
    {
        var paymentId = Guid.NewGuid();
        await app.InScopeAsync(async s =>
        {
            // Handlers run inside Publish: whatever it queues is there when it returns.
            await s.GetRequiredService<IMediator>().Publish(new PaymentCredited(paymentId, Wallet, null, false, 1));
            return 0;
        });

        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM discord_writes WHERE origin = @o", ("o", NotifyCredited.Origin(paymentId)))).ShouldBe(0);
    }
}
