using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.DiscordFake;
using Freeside.Tests.Inference;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Freeside.Tests.Discord;

/// <summary>
/// The fake Discord as `./build.sh run` starts it: its own process (src/Freeside.DiscordFake), Freeside on
/// real Kestrel, the key taken from the fake's /fake/public-key, the gateway session on.
/// </summary>
public sealed class DiscordFakeProcessApp : FreesideApp, IAsyncLifetime
{
    private Process? _fake;

    public int Port { get; } = FinnStubProcess.FreePort();

    public Uri FakeUrl { get; } = new($"http://127.0.0.1:{FinnStubProcess.FreePort()}");

    private string _publicKey = "";

    public new async Task InitializeAsync()
    {
        var info = new ProcessStartInfo("dotnet", [FakeDll()]) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["DISCORD_FAKE_URLS"] = FakeUrl.ToString().TrimEnd('/');
        info.Environment["DISCORD_FAKE_INTERACTIONS_URL"] = $"http://127.0.0.1:{Port}/api/discord/interactions";
        _fake = Process.Start(info)!;
        _fake.OutputDataReceived += (_, _) => { };
        _fake.ErrorDataReceived += (_, _) => { };
        _fake.BeginOutputReadLine();
        _fake.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = FakeUrl };
        for (var i = 0; i < 600 && _publicKey.Length == 0; i++)
        {
            try
            {
                _publicKey = (await http.GetFromJsonAsync<JsonElement>("/fake/public-key")).GetProperty("public_key").GetString()!;
            }
            catch (HttpRequestException)
            {
                _fake.HasExited.ShouldBeFalse("the fake Discord exited");
                await Task.Delay(100);
            }
        }

        await base.InitializeAsync();
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_fake is { HasExited: false })
        {
            _fake.Kill();
            await _fake.WaitForExitAsync();
        }

        _fake?.Dispose();
    }

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["FREESIDE_URLS"] = $"http://127.0.0.1:{Port}";
        settings["FREESIDE_MANAGEMENT_URLS"] = $"http://127.0.0.1:{FinnStubProcess.FreePort()}";
        settings["DISCORD_PUBLIC_KEY"] = _publicKey;
        settings["DISCORD_APPLICATION_ID"] = FakeDiscord.ApplicationId;
        settings["DISCORD_BOT_TOKEN"] = FakeDiscord.BotToken;
        settings["DISCORD_API_URL"] = new Uri(FakeUrl, "api/v10/").ToString();
        settings["DISCORD_GATEWAY_URL"] = new UriBuilder(FakeUrl) { Scheme = "ws", Path = "/gateway" }.Uri.ToString();
        return settings;
    }

    protected override void Configure(WebApplicationFactory<Program> factory) => factory.UseKestrel();

    public override HttpClient CreateClient() => new() { BaseAddress = new Uri($"http://127.0.0.1:{Port}") };

    private static string FakeDll()
    {
        var here = AppContext.BaseDirectory; // tests/Freeside.Tests/bin/<Configuration>/net10.0/
        var configuration = new DirectoryInfo(here).Parent!.Name;
        var root = new DirectoryInfo(here);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "build.sh")))
        {
            root = root.Parent;
        }

        var dll = Path.Combine(root!.FullName, "src", "Freeside.DiscordFake", "bin", configuration, "net10.0", "Freeside.DiscordFake.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("Build the fake Discord first.", dll);
    }
}

public sealed class DiscordFakeProcessTests(DiscordFakeProcessApp app) : IClassFixture<DiscordFakeProcessApp>
{
    [Fact]
    public async Task OperatorSlashCommand_ThroughTheFakeProcess_SignedReachesFreesideAndTheDeferredAnswerComesBack()
    {
        using var fake = new HttpClient { BaseAddress = app.FakeUrl, Timeout = TimeSpan.FromSeconds(90) };

        var sent = await fake.PostAsJsonAsync("/fake/interactions", new { command = "verify", user_id = "300000000000000042" });

        var body = await sent.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("status").GetInt32().ShouldBe(200, body.ToString());
        body.GetProperty("response").GetProperty("type").GetInt32().ShouldBe(5);
        body.GetProperty("reply").GetString().ShouldNotBeNull().ShouldContain($"http://127.0.0.1:{app.Port}/link/");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM link_requests WHERE platform = 'discord' AND external_user_id = '300000000000000042'")).ShouldBe(1);
    }

    [Fact]
    public async Task OperatorMessage_FreesideHoldsAGatewaySessionWithTheFakeProcess_Delivered()
    {
        using var fake = new HttpClient { BaseAddress = app.FakeUrl };
        var delivered = false;
        for (var i = 0; i < 1200 && !delivered; i++)
        {
            var sent = await fake.PostAsJsonAsync("/fake/messages", new { channel_id = FakeDiscord.DemoChannelId, content = "anyone here?" });
            delivered = (await sent.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("delivered").GetBoolean();
            if (!delivered)
            {
                await Task.Delay(50);
            }
        }

        delivered.ShouldBeTrue("Freeside never identified on the fake's gateway");
    }

    [Fact]
    public async Task ChannelMessages_AfterABotMessage_ShowsItsIdAndText()
    {
        using var fake = new HttpClient { BaseAddress = app.FakeUrl };
        await app.SendAsync(new Freeside.Features.Discord.QueueWrites.Command([Freeside.Features.Discord.DiscordWrite.Create("test", HttpMethod.Post,
            "channels/200000000000000077/messages", new Freeside.Features.Discord.Client.MessagePayload("hello from the bot"), DateTimeOffset.UtcNow)]));

        var messages = await fake.GetFromJsonAsync<JsonElement>("/fake/channels/200000000000000077/messages");
        for (var i = 0; i < 1200 && messages.GetArrayLength() == 0; i++)
        {
            await Task.Delay(50);
            messages = await fake.GetFromJsonAsync<JsonElement>("/fake/channels/200000000000000077/messages");
        }

        messages[0].GetProperty("content").GetString().ShouldBe("hello from the bot");
        messages[0].GetProperty("id").GetString().ShouldNotBeNullOrEmpty();
    }
}
