using System.Net.WebSockets;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Freeside.Tests.WebChat;

/// <summary>A second Freeside process (its own host and Kestrel) on the same PostgreSQL and Redis as the first.</summary>
public sealed class TwoReplicaApp : WebChatApp, IAsyncLifetime
{
    private WebApplicationFactory<Program>? _replica;

    public int ReplicaPort { get; private set; }

    public IServiceProvider Replica => _replica!.Services;

    public new async Task InitializeAsync()
    {
        await base.InitializeAsync();
        // A free port can be taken by another process between choosing it and binding it: choose again.
        for (var attempt = 1; ; attempt++)
        {
            ReplicaPort = FinnStubProcess.FreePort();
            var settings = Settings(Database);
            settings["FREESIDE_URLS"] = $"http://127.0.0.1:{ReplicaPort}";
            settings["FREESIDE_MANAGEMENT_URLS"] = $"http://127.0.0.1:{FinnStubProcess.FreePort()}";
            _replica = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
            {
                builder.UseEnvironment("Development");
                foreach (var (key, value) in settings)
                {
                    builder.UseSetting(key, value ?? "");
                }

                builder.ConfigureTestServices(ConfigureServices);
            });
            _replica.UseKestrel();
            try
            {
                _replica.StartServer();
                return;
            }
            catch (IOException e) when (attempt < 5 && e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
            {
                await _replica.DisposeAsync();
            }
        }
    }

    public new async Task DisposeAsync()
    {
        if (_replica is not null)
        {
            await _replica.DisposeAsync();
        }

        await base.DisposeAsync();
    }
}

/// <summary>Issue 12: scale-out over Redis pub/sub, and the graceful drain of a replica that stops.</summary>
public sealed class ScaleOutTests(TwoReplicaApp app) : IClassFixture<TwoReplicaApp>
{
    private const string Slug = "web-scale";

    [Fact]
    public async Task Replicas_ChatThroughOneShowsUpLiveOnTheOther_AndAStoppingOneDrains()
    {
        await ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection);
        using var typing = await app.ConnectAsync(Slug, "1", await app.SessionAsync(TestWallet.Demo));
        using var watching = await app.ConnectAsync(Slug, "1", await app.SessionAsync(TestWallet.Demo), port: app.ReplicaPort);
        (await typing.ReceiveAsync()).ShouldNotBeNull();
        (await watching.ReceiveAsync()).ShouldNotBeNull();

        await typing.SendAsync(new { type = "chat", message = "across replicas" });
        var sent = await typing.ReadChatAsync();
        var mirrored = await watching.ReadChatAsync();

        TestSocket.Type(mirrored[0]).ShouldBe("user");
        mirrored.Skip(1).Select(m => m.ToString()).ShouldBe(sent.Select(m => m.ToString()));
        TestSocket.Type(sent[^1]).ShouldBe("end");
        await ReplicaStoppingDrainsAsync();
    }

    /// <summary>Runs last: it stops the replica (xunit orders a class's tests freely, so it is part of the one test).</summary>
    private async Task ReplicaStoppingDrainsAsync()
    {
        using var socket = await app.ConnectAsync(Slug, "4", await app.SessionAsync(TestWallet.Demo), port: app.ReplicaPort);
        (await socket.ReceiveAsync()).ShouldNotBeNull();
        await socket.SendAsync(new { type = "chat", message = "finish before you go" });
        TestSocket.Type((await socket.ReceiveAsync())!.Value).ShouldBe("start");

        app.Replica.GetRequiredService<IHostApplicationLifetime>().StopApplication();
        var rest = await socket.ReadToCloseAsync();

        var types = rest.Select(m => TestSocket.Type(m)).ToList();
        types.ShouldContain("drain");
        types[^1].ShouldBe("end", string.Join(",", types));
        socket.CloseStatus.ShouldBe((int)WebSocketCloseStatus.EndpointUnavailable);
        (await ChatHttp.PendingHoldsAsync(app)).ShouldBe(0);
        (await app.Database.ScalarAsync<string>("SELECT billing_method FROM usage_events ORDER BY created_at DESC LIMIT 1")).ShouldBe("reported");
    }
}
