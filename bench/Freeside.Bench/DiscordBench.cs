using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Discord;
using Freeside.Features.Discord.Client;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NSec.Cryptography;

namespace Freeside.Bench;

/// <summary>
/// (1) Slash-command interactions signed with Ed25519, verified and answered "deferred" through the real
/// pipeline (ReceiveInteraction), in process, 8 senders. (2) Gateway MESSAGE_CREATE events from a local
/// WebSocket server read by Freeside's GatewayClient and turned into queued replies (QueueWrites, one
/// durable row each, deduplicated by message id). Chat itself is not part of (2): it is finn's time.
/// </summary>
public static class DiscordBench
{
    private const int Interactions = 10_000;
    private const int Messages = 5_000;
    private const int Senders = 8;

    public static async Task<BenchReport> RunAsync(BenchContext context)
    {
        using var key = Key.Create(SignatureAlgorithm.Ed25519);
        await using var services = Services(context, Convert.ToHexStringLower(key.PublicKey.Export(KeyBlobFormat.RawPublicKey)));
        var report = new BenchReport("discord");
        report.Parameters["interactions"] = Interactions;
        report.Parameters["gateway_messages"] = Messages;
        report.Parameters["senders"] = Senders;

        var bodies = Enumerable.Range(0, Interactions).Select(i =>
        {
            var body = Encoding.UTF8.GetBytes(new JsonObject
            {
                ["id"] = (100_000 + i).ToString(CultureInfo.InvariantCulture), ["type"] = 2, ["application_id"] = "1", ["token"] = "t" + i,
                ["guild_id"] = "2", ["channel_id"] = "3", ["member"] = new JsonObject { ["user"] = new JsonObject { ["id"] = "4" } },
                ["data"] = new JsonObject { ["name"] = "agent-info", ["options"] = new JsonArray(new JsonObject { ["name"] = "token_id", ["type"] = 3, ["value"] = "1" }) },
            }.ToJsonString());
            var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            var signature = Convert.ToHexStringLower(SignatureAlgorithm.Ed25519.Sign(key, Encoding.ASCII.GetBytes(timestamp).Concat(body).ToArray()));
            return (body, timestamp, signature);
        }).ToList();
        var next = -1;
        var deferred = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Senders).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < bodies.Count)
            {
                await using var scope = services.CreateAsyncScope();
                var (body, timestamp, signature) = bodies[i];
                var result = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new ReceiveInteraction.Command(body, timestamp, signature));
                if (result is { IsSuccess: true, Value.Type: InteractionCallbackType.DeferredChannelMessageWithSource })
                {
                    Interlocked.Increment(ref deferred);
                }
            }
        })));
        var interactionsPerSecond = Interactions / clock.Elapsed.TotalSeconds;
        report.Add("interactions_verified_deferred_per_s", interactionsPerSecond, 5000);
        report.Add("interactions_deferred", deferred, Interactions);

        report.Add("gateway_messages_queued_per_s", await GatewayAsync(services, context.OwnerConnectionString), 1000);
        return report;
    }

    private static async Task<double> GatewayAsync(ServiceProvider services, string owner)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var server = builder.Build();
        server.UseWebSockets();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Map("/gateway", async (HttpContext http) =>
        {
            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            await SendAsync(socket, new JsonObject { ["op"] = 10, ["d"] = new JsonObject { ["heartbeat_interval"] = 41250 } });
            var buffer = new byte[16 * 1024];
            await socket.ReceiveAsync(buffer, CancellationToken.None); // identify
            await SendAsync(socket, new JsonObject { ["op"] = 0, ["s"] = 1, ["t"] = "READY", ["d"] = new JsonObject { ["session_id"] = "bench" } });
            for (var i = 0; i < Messages; i++)
            {
                await SendAsync(socket, new JsonObject
                {
                    ["op"] = 0, ["s"] = i + 2, ["t"] = "MESSAGE_CREATE",
                    ["d"] = new JsonObject
                    {
                        ["id"] = (500_000 + i).ToString(CultureInfo.InvariantCulture), ["channel_id"] = "9", ["guild_id"] = "2", ["content"] = "hello " + i,
                        ["author"] = new JsonObject { ["id"] = "4" },
                    },
                });
            }

            await done.Task;
        });
        await server.StartAsync();
        var url = new Uri(server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().Replace("http", "ws", StringComparison.Ordinal) + "/gateway");

        var queued = 0;
        var pending = new List<Task>();
        var gate = new SemaphoreSlim(32);
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var client = new GatewayClient(url, "bench-token", GatewayIntents.Default, async (dispatch, ct) =>
        {
            if (dispatch.Name != "MESSAGE_CREATE" || DiscordGateway.ToCommand(dispatch.Data) is not { } message)
            {
                return;
            }

            await gate.WaitAsync(ct);
            pending.Add(Task.Run(async () =>
            {
                try
                {
                    await using var scope = services.CreateAsyncScope();
                    var write = DiscordWrite.Create("bench", HttpMethod.Post, $"channels/{message.ChannelId}/messages", new MessagePayload("…"), DateTimeOffset.UtcNow,
                        "reply:" + message.MessageId);
                    var result = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new QueueWrites.Command([write]));
                    if (result.IsSuccess && Interlocked.Add(ref queued, result.Value) == Messages)
                    {
                        await stop.CancelAsync();
                    }
                }
                finally
                {
                    gate.Release();
                }
            }, CancellationToken.None));
        });
        await client.RunAsync(stop.Token);
        var elapsed = clock.Elapsed;
        done.TrySetResult();
        await Task.WhenAll(pending);
        await using var connection = new NpgsqlConnection(owner);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM discord_writes WHERE origin = 'bench'", connection);
        var rows = (long)(await count.ExecuteScalarAsync())!;
        return rows == Messages ? Messages / elapsed.TotalSeconds : 0;
    }

    private static async Task SendAsync(WebSocket socket, JsonObject payload) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(payload.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);

    private static ServiceProvider Services(BenchContext context, string publicKey)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DATABASE_URL"] = context.AppConnectionString,
            ["DATABASE_MIGRATION_URL"] = context.OwnerConnectionString,
            ["FREESIDE_ADMIN_TOKEN"] = "bench-admin-token-0123456789abcdef",
            ["FREESIDE_KEY_ENCRYPTION_KEY"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["SIWE_DOMAINS"] = "app.example.com",
            ["FREESIDE_JOBS_ENABLED"] = "false",
            ["DISCORD_PUBLIC_KEY"] = publicKey,
            ["DISCORD_APPLICATION_ID"] = "1",
        }).Build();
        var loaded = FreesideSettings.Load(configuration, isDevelopment: false);
        var settings = loaded.Settings ?? throw new InvalidOperationException(string.Join("; ", loaded.Errors));
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddFreesideFeatures(settings, configuration);
        return services.BuildServiceProvider();
    }
}
