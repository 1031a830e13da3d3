using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Freeside.Features.Discord.Client;
using NSec.Cryptography;
using Freeside.DiscordFake;

namespace Freeside.Tests.Discord;

public sealed class InteractionsTests(DiscordApp app) : IClassFixture<DiscordApp>
{
    public static byte[] SlashCommand(string name, string interactionId, string token, string? guildId = "555000000000000001", params (string Name, string Value)[] options) =>
        Encoding.UTF8.GetBytes(new JsonObject
        {
            ["id"] = interactionId,
            ["type"] = 2,
            ["application_id"] = FakeDiscord.ApplicationId,
            ["token"] = token,
            ["guild_id"] = guildId,
            ["channel_id"] = "666000000000000001",
            ["app_permissions"] = "0",
            ["member"] = new JsonObject { ["user"] = new JsonObject { ["id"] = "777000000000000001", ["username"] = "holder" } },
            ["data"] = new JsonObject
            {
                ["id"] = "1", ["name"] = name,
                ["options"] = new JsonArray(options.Select(o => (JsonNode)new JsonObject { ["name"] = o.Name, ["type"] = 3, ["value"] = o.Value }).ToArray()),
            },
        }.ToJsonString());

    public static async Task<HttpResponseMessage> PostAsync(HttpClient client, byte[] body, string? timestamp, string? signature)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/discord/interactions") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (timestamp is not null)
        {
            request.Headers.Add(InteractionSignature.TimestampHeader, timestamp);
        }

        if (signature is not null)
        {
            request.Headers.Add(InteractionSignature.SignatureHeader, signature);
        }

        return await client.SendAsync(request);
    }

    private static readonly byte[] Ping = Encoding.UTF8.GetBytes("""{"id":"1","type":1,"application_id":"100000000000000001","token":"t"}""");

    [Fact]
    public async Task Interaction_ValidPing_Pong()
    {
        var (timestamp, signature) = app.Discord.Sign(Ping);

        using var response = await PostAsync(app.CreateClient(), Ping, timestamp, signature);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("type").GetInt32().ShouldBe(1);
    }

    [Theory]
    [InlineData("bad-signature")]
    [InlineData("tampered-body")]
    [InlineData("stale-timestamp")]
    [InlineData("future-timestamp")]
    [InlineData("wrong-key")]
    [InlineData("missing-headers")]
    [InlineData("timestamp-changed")]
    public async Task Interaction_NotSignedByDiscord_Unauthorized(string attack)
    {
        var body = Ping;
        var (timestamp, signature) = app.Discord.Sign(Ping);
        switch (attack)
        {
            case "bad-signature":
                signature = (signature[0] == 'a' ? "b" : "a") + signature[1..];
                break;
            case "tampered-body":
                body = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Ping).Replace("\"type\":1", "\"type\":2", StringComparison.Ordinal));
                break;
            case "stale-timestamp":
                (timestamp, signature) = app.Discord.Sign(Ping, DateTimeOffset.UtcNow.AddMinutes(-10));
                break;
            case "future-timestamp":
                (timestamp, signature) = app.Discord.Sign(Ping, DateTimeOffset.UtcNow.AddMinutes(10));
                break;
            case "wrong-key":
                using (var other = Key.Create(SignatureAlgorithm.Ed25519))
                {
                    (timestamp, signature) = app.Discord.Sign(Ping, key: other);
                }

                break;
            case "missing-headers":
                timestamp = null!;
                signature = null!;
                break;
            case "timestamp-changed":
                timestamp = (long.Parse(timestamp, System.Globalization.CultureInfo.InvariantCulture) - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
                break;
        }

        using var response = await PostAsync(app.CreateClient(), body, timestamp, signature);

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await response.Content.ReadAsStringAsync()).ShouldContain("discord-signature-invalid");
    }

    [Fact]
    public async Task Interaction_SignedGarbage_BadRequestNot500()
    {
        var body = Encoding.UTF8.GetBytes("{not json");
        var (timestamp, signature) = app.Discord.Sign(body);

        using var response = await PostAsync(app.CreateClient(), body, timestamp, signature);

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain("discord-interaction-malformed");
    }

    [Fact]
    public async Task SlashCommand_Signed_DeferredAtOnceThenOriginalEditedThroughQueue()
    {
        var token = "interaction-token-" + Guid.NewGuid().ToString("N");
        var body = SlashCommand("agent-info", "880000000000000001", token, "555000000000000099", ("token_id", "7"));
        var (timestamp, signature) = app.Discord.Sign(body);

        using var response = await PostAsync(app.CreateClient(), body, timestamp, signature);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var deferred = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        deferred.GetProperty("type").GetInt32().ShouldBe(5);
        deferred.GetProperty("data").GetProperty("flags").GetInt32().ShouldBe(64);
        var path = $"webhooks/{FakeDiscord.ApplicationId}/{token}/messages/@original";
        await DiscordApp.EventuallyAsync(() => app.Discord.Requests.Any(r => r.Path == path && r.Status == 200), "the deferred answer edited");
        var edit = app.Discord.Requests.Single(r => r.Path == path);
        edit.Method.ShouldBe("PATCH");
        edit.Body.ShouldContain("not connected to a Freeside community");
    }

    [Fact]
    public async Task SlashCommand_UnknownName_AnswersInsteadOfSilence()
    {
        var token = "interaction-token-" + Guid.NewGuid().ToString("N");
        var body = SlashCommand("launch-rockets", "880000000000000002", token);
        var (timestamp, signature) = app.Discord.Sign(body);

        using var response = await PostAsync(app.CreateClient(), body, timestamp, signature);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var path = $"webhooks/{FakeDiscord.ApplicationId}/{token}/messages/@original";
        await DiscordApp.EventuallyAsync(() => app.Discord.Requests.Any(r => r.Path == path), "an answer");
        app.Discord.Requests.Single(r => r.Path == path).Body.ShouldContain("does not know /launch-rockets");
    }
}
