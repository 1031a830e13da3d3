using Freeside.Features.Discord.Client;
using Freeside.DiscordFake;

namespace Freeside.Tests.Discord.Client;

public sealed class DiscordRestClientTests : IAsyncLifetime
{
    private FakeDiscord _discord = null!;

    public async Task InitializeAsync() => _discord = await FakeDiscord.StartAsync();

    public async Task DisposeAsync() => await _discord.DisposeAsync();

    private DiscordRestClient Client() => new(new HttpClient { BaseAddress = _discord.ApiUrl }, FakeDiscord.BotToken, TimeProvider.System);

    [Fact]
    public async Task Send_ManyInOneBucket_WaitsForResetAndMeetsNo429()
    {
        _discord.BucketLimit = 3;
        var client = Client();

        var responses = new List<DiscordResponse>();
        for (var i = 0; i < 10; i++)
        {
            responses.Add(await client.SendAsync(new DiscordRequest(HttpMethod.Post, "channels/123/messages", """{"content":"hi"}"""), CancellationToken.None));
        }

        responses.ShouldAllBe(r => r.IsSuccess);
        _discord.TooManyRequestsSent.ShouldBe(0);
        client.RateLimitedTotal.ShouldBe(0);
        _discord.Requests.Count.ShouldBe(10);
        _discord.Requests.ShouldAllBe(r => r.Authorization == "Bot " + FakeDiscord.BotToken);
    }

    [Fact]
    public async Task Send_ConcurrentInOneBucket_MeetsNo429()
    {
        _discord.BucketLimit = 2;
        var client = Client();

        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ =>
            client.SendAsync(new DiscordRequest(HttpMethod.Post, "channels/321/messages", """{"content":"hi"}"""), CancellationToken.None)));

        responses.ShouldAllBe(r => r.IsSuccess);
        _discord.TooManyRequestsSent.ShouldBe(0);
    }

    [Fact]
    public async Task Send_429FromElsewhere_HonoursRetryAfterAndSucceeds()
    {
        _discord.RateLimitNext(2);
        var client = Client();

        var response = await client.SendAsync(new DiscordRequest(HttpMethod.Post, "channels/9/messages", """{"content":"hi"}"""), CancellationToken.None);

        response.IsSuccess.ShouldBeTrue();
        response.RateLimitedTimes.ShouldBe(2);
        _discord.Requests.Count.ShouldBe(3);
    }

    [Fact]
    public async Task Send_429Persisting_GivesUpAfterRetriesWith429()
    {
        _discord.RateLimitNext(100);
        var client = Client();

        var response = await client.SendAsync(new DiscordRequest(HttpMethod.Post, "channels/9/messages", "{}"), CancellationToken.None);

        response.Status.ShouldBe(429);
        _discord.Requests.Count.ShouldBe(DiscordRestClient.MaxRateLimitRetries + 1);
    }

    [Fact]
    public async Task Send_WebhookRoute_CarriesNoBotToken()
    {
        var client = Client();

        await client.SendAsync(new DiscordRequest(HttpMethod.Patch, $"webhooks/{FakeDiscord.ApplicationId}/tok/messages/@original", "{}"), CancellationToken.None);

        _discord.Requests.Single().Authorization.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("POST", "channels/123/messages", "POST /channels/:major/messages", "123")]
    [InlineData("PATCH", "channels/123/messages/456", "PATCH /channels/:major/messages/:id", "123")]
    [InlineData("PATCH", "webhooks/1/tok/messages/@original", "PATCH /webhooks/:major/:major/messages/@original", "1/tok")]
    [InlineData("POST", "users/@me/channels", "POST /users/@me/channels", "")]
    public void RouteKey_IdsAndMajorParameters_Separated(string method, string path, string expected, string major)
    {
        DiscordRestClient.RouteKey(new HttpMethod(method), path, out var actualMajor).ShouldBe(expected);
        actualMajor.ShouldBe(major);
    }
}
