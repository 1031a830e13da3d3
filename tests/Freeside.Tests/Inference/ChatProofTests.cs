using System.Net;
using System.Net.Http.Json;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Inference;

public sealed class ChatProofTests(ChatApp app) : IClassFixture<ChatApp>
{
    private static readonly string[] Modes =
        ["normal", "client-abort", "abort-after:4", "error-event-after:4", "no-usage", "delay-first-byte:10000", "http-then-ok:503:2"];

    [Fact]
    public async Task Chat_500MixedChats_LeaveTheLedgerWholeAndUsageEqualToCharges()
    {
        const string slug = "soak";
        await ChatHttp.CommunityAsync(app, slug, app.Chain.Collection, grantMicro: 1_000_000_000);
        var token = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        var before = await ChatHttp.AvailableAsync(app, slug);
        var outcomes = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();

        await Parallel.ForEachAsync(Enumerable.Range(0, 500), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            var mode = Modes[i % Modes.Length];
            var client = app.CreateClient().WithBearer(token);
            var message = mode is "normal" or "client-abort" ? $"hello {i}" : $"hello {i} [fault:{mode}]";
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/agents/{slug}/{1 + (i % 3)}/chat")
            {
                Content = JsonContent.Create(new { message }),
            };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (mode == "client-abort" && response.StatusCode == HttpStatusCode.OK)
            {
                // Read until the first token arrives, then hang up.
                using var stream = await response.Content.ReadAsStreamAsync();
                using var reader = new StreamReader(stream);
                while (await reader.ReadLineAsync() is { } line && line != "event: token")
                {
                }

                outcomes.AddOrUpdate(mode + " hung-up", 1, (_, n) => n + 1);
                return;
            }

            var body = await response.Content.ReadAsStringAsync();
            var last = response.StatusCode == HttpStatusCode.OK ? ChatHttp.Events(body)[^1].Name : ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            outcomes.AddOrUpdate(mode + " " + last, 1, (_, n) => n + 1);
        });

        // Chats whose caller hung up settle on the server after the client has gone.
        for (var i = 0; i < 300 && await ChatHttp.PendingHoldsAsync(app) > 0; i++)
        {
            await Task.Delay(100);
        }

        var summary = string.Join(", ", outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key}={o.Value}"));
        (await ChatHttp.PendingHoldsAsync(app)).ShouldBe(0, summary);
        outcomes["normal end"].ShouldBe(72, summary);
        outcomes["http-then-ok:503:2 end"].ShouldBe(71, summary);
        outcomes["delay-first-byte:10000 504"].ShouldBe(71, summary);
        outcomes["error-event-after:4 error"].ShouldBe(71, summary);
        outcomes["no-usage error"].ShouldBe(71, summary);
        await ChatHttp.ConservationHoldsAsync(app, slug);
        var charged = await app.Database.ScalarAsync<long>("SELECT coalesce(sum(charged), 0) FROM credit_reservations WHERE status = 'finalized'");
        (await app.Database.ScalarAsync<long>("SELECT coalesce(sum(amount_micro), 0) FROM usage_events")).ShouldBe(charged);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM usage_events")).ShouldBe(
            await app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_reservations WHERE status = 'finalized'"));
        (before - await ChatHttp.AvailableAsync(app, slug)).ShouldBe(charged);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_reservations WHERE charged > held")).ShouldBe(0);
    }
}

public sealed class ChatFinnDown : ChatApp
{
    protected override bool StartStub => false;

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["FINN_BREAKER_MINIMUM_CALLS"] = "5";
        settings["FINN_BREAKER_BREAK_SECONDS"] = "600";
        return settings;
    }
}

public sealed class ChatFinnDownTests(ChatFinnDown app) : IClassFixture<ChatFinnDown>
{
    [Fact]
    public async Task Chat_FinnDown_BreakerOpensAnswers503WithoutConnectingAndReleasesEveryHold()
    {
        await ChatHttp.CommunityAsync(app, "down", app.Chain.Collection);
        var before = await ChatHttp.AvailableAsync(app, "down");

        for (var i = 0; i < 2; i++)
        {
            (await ChatHttp.ChatAsync(app, TestWallet.Demo, "down", "1", new { message = "hi" })).StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        }

        var sent = app.Wire.Sent;
        sent.ShouldBe(5);
        for (var i = 0; i < 10; i++)
        {
            var response = await ChatHttp.ChatAsync(app, TestWallet.Demo, "down", "1", new { message = "hi" });
            response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            (await response.Content.ReadAsStringAsync()).ShouldContain("circuit breaker is open");
        }

        app.Wire.Sent.ShouldBe(sent);
        (await ChatHttp.PendingHoldsAsync(app)).ShouldBe(0);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_reservations WHERE status <> 'released'")).ShouldBe(0);
        (await ChatHttp.AvailableAsync(app, "down")).ShouldBe(before);
        await ChatHttp.ConservationHoldsAsync(app, "down");
    }
}
