using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Discord;
using Freeside.Features.Discord.Client;

namespace Freeside.Tests.Discord;

public sealed class WriteQueueTests(DiscordApp app) : IClassFixture<DiscordApp>
{
    private static DiscordWrite Message(string channel, string text, string? key = null) =>
        DiscordWrite.Create("test", HttpMethod.Post, $"channels/{channel}/messages", new MessagePayload(text), DateTimeOffset.UtcNow, key);

    [Fact]
    public async Task QueuedWrite_Sent_MarkedSentOnce()
    {
        var write = Message("1001", "hello");

        (await app.SendAsync(new QueueWrites.Command([write]))).Value.ShouldBe(1);

        await DiscordApp.EventuallyAsync(() => app.Discord.Requests.Any(r => r.Path == "channels/1001/messages"), "the message sent");
        await DiscordApp.EventuallyAsync(() => Status(write.Id) == "sent", "the row marked sent");
        app.Discord.Requests.Count(r => r.Path == "channels/1001/messages").ShouldBe(1);
        app.Discord.Requests.Single(r => r.Path == "channels/1001/messages").Body.ShouldContain("\"content\":\"hello\"");
    }

    [Fact]
    public async Task QueuedWrite_SameDedupeKeyTwice_SentOnce()
    {
        (await app.SendAsync(new QueueWrites.Command([Message("1002", "a", "event:1")]))).Value.ShouldBe(1);
        (await app.SendAsync(new QueueWrites.Command([Message("1002", "a", "event:1")]))).Value.ShouldBe(0);

        await DiscordApp.EventuallyAsync(() => app.Discord.Requests.Any(r => r.Path == "channels/1002/messages"), "the message sent");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM discord_writes WHERE dedupe_key = 'event:1'")).ShouldBe(1);
    }

    [Fact]
    public async Task QueuedWrite_SameDedupeKeyFromTwentyAtOnce_OneQueuedAndNoneFails()
    {
        // A gateway event replayed to several replicas at once: each must answer, one write must be queued.
        var key = "event:race:" + Guid.NewGuid().ToString("N");

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => app.SendAsync(new QueueWrites.Command([Message("1099", "once", key)])))));

        results.ShouldAllBe(r => r.IsSuccess);
        results.Sum(r => r.Value).ShouldBe(1);
        (await app.Database.ScalarAsync<long>($"SELECT count(*) FROM discord_writes WHERE dedupe_key = '{key}'")).ShouldBe(1);
    }

    [Fact]
    public async Task QueuedWrite_DiscordKeepsFailing_RetriedThenDeadLetterForAdmin()
    {
        var write = Message("1003", "doomed");
        app.Discord.FailNext(DiscordWrite.MaxAttempts, 503);

        await app.SendAsync(new QueueWrites.Command([write]));

        await DiscordApp.EventuallyAsync(() => Status(write.Id) == "dead", "the write a dead letter");
        app.Discord.Requests.Count(r => r.Path == "channels/1003/messages").ShouldBe(DiscordWrite.MaxAttempts);
        (await app.Database.ScalarAsync<int>("SELECT attempts FROM discord_writes WHERE id = @id", ("id", write.Id))).ShouldBe(DiscordWrite.MaxAttempts);

        var page = await app.CreateAdminClient().GetFromJsonAsync<JsonElement>("/api/v1/admin/discord/dead-letters");
        var letter = page.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("id").GetGuid() == write.Id);
        letter.GetProperty("last_status").GetInt32().ShouldBe(503);
        letter.GetProperty("attempts").GetInt32().ShouldBe(DiscordWrite.MaxAttempts);
        (await app.CreateClient().GetAsync("/api/v1/admin/discord/dead-letters")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task QueuedWrite_RefusedFor403_DeadAtOnce()
    {
        var write = Message("1004", "no permission");
        app.Discord.FailNext(1, 403);

        await app.SendAsync(new QueueWrites.Command([write]));

        await DiscordApp.EventuallyAsync(() => Status(write.Id) == "dead", "the write a dead letter");
        app.Discord.Requests.Count(r => r.Path == "channels/1004/messages").ShouldBe(1);
    }

    [Fact]
    public async Task QueuedWrite_ClaimedByAProcessThatDied_SentAfterItsLeaseRunsOut()
    {
        var id = Guid.NewGuid();
        // As a replica that crashed mid-send leaves it: claimed once, lease already past.
        await app.Database.ExecuteAsync($$"""
            INSERT INTO discord_writes (id, origin, method, path, body, status, attempts, next_attempt_at, lease_until, created_at)
            VALUES ('{{id}}', 'test', 'POST', 'channels/1005/messages', '{"content":"survivor"}', 'pending', 1, now(), now() - interval '1 second', now())
            """);

        await DiscordApp.EventuallyAsync(() => Status(id) == "sent", "the orphaned write sent");
        app.Discord.Requests.Count(r => r.Path == "channels/1005/messages").ShouldBe(1);
    }

    [Fact]
    public void Backoff_FiveTwentyFiveHundredTwentyFive()
    {
        var five = TimeSpan.FromSeconds(5);
        DiscordWrite.Backoff(five, 1).ShouldBe(TimeSpan.FromSeconds(5));
        DiscordWrite.Backoff(five, 2).ShouldBe(TimeSpan.FromSeconds(25));
        DiscordWrite.Backoff(five, 3).ShouldBe(TimeSpan.FromSeconds(125));
    }

    private string? Status(Guid id) => app.Database.ScalarAsync<string>("SELECT status FROM discord_writes WHERE id = @id", ("id", id)).GetAwaiter().GetResult();
}
