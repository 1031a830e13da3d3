using Freeside.Features.Discord;
using Freeside.Features.Discord.Client;
using Freeside.Tests.Infrastructure;
using MediatR;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Freeside.DiscordFake;

namespace Freeside.Tests.Discord;

/// <summary>
/// Alone: the fake counts requests per second as its handler sees them, in this test process, so other
/// test classes starving the thread pool would bunch up arrivals that left Freeside spaced.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalRateCollection
{
    public const string Name = "discord-global-rate";
}

/// <summary>Two Freeside hosts on one database and one Redis drain one queue under one global Discord limit.</summary>
[Collection(GlobalRateCollection.Name)]
public sealed class GlobalRateTests : IAsyncLifetime
{
    private FakeDiscord _discord = null!;
    private TestDatabase _database = null!;
    private readonly List<WebApplicationFactory<Program>> _replicas = [];

    public async Task InitializeAsync()
    {
        _discord = await FakeDiscord.StartAsync();
        _database = await TestDatabase.CreateAsync();
        for (var i = 0; i < 2; i++)
        {
            var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
            {
                builder.UseEnvironment("Development");
                foreach (var (key, value) in new Dictionary<string, string?>
                {
                    ["DATABASE_URL"] = _database.AppConnectionString,
                    ["DATABASE_MIGRATION_URL"] = _database.OwnerConnectionString,
                    ["REDIS_URL"] = TestEnvironment.RedisUrl,
                    ["FREESIDE_ADMIN_TOKEN"] = FreesideApp.AdminToken,
                    ["FREESIDE_JOBS_ENABLED"] = "false",
                    ["DISCORD_PUBLIC_KEY"] = _discord.PublicKeyHex,
                    ["DISCORD_APPLICATION_ID"] = FakeDiscord.ApplicationId,
                    ["DISCORD_BOT_TOKEN"] = FakeDiscord.BotToken,
                    ["DISCORD_API_URL"] = _discord.ApiUrl.ToString(),
                    ["DISCORD_GATEWAY_ENABLED"] = "false",
                })
                {
                    builder.UseSetting(key, value);
                }
            });
            factory.StartServer();
            _replicas.Add(factory);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }

        await _database.DisposeAsync();
        await _discord.DisposeAsync();
    }

    [Fact]
    public async Task ThousandWrites_TenCommunitiesTwoReplicas_No429AndNeverAbove50PerSecond()
    {
        // Each replica queues the writes of five communities, one channel each, in batches as commands would.
        await Task.WhenAll(Enumerable.Range(0, 10).Select(async community =>
        {
            var replica = _replicas[community % 2];
            for (var batch = 0; batch < 10; batch++)
            {
                var writes = Enumerable.Range(0, 10).Select(i => DiscordWrite.Create($"community:c{community}", HttpMethod.Post,
                    $"channels/{2000 + community}/messages", new MessagePayload($"message {batch * 10 + i}"), DateTimeOffset.UtcNow)).ToList();
                await using var scope = replica.Services.CreateAsyncScope();
                (await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new QueueWrites.Command(writes))).Value.ShouldBe(10);
            }
        }));

        await DiscordApp.EventuallyAsync(() => _discord.Requests.Count(r => r.Status == 200) >= 1000, "1,000 writes delivered");
        await DiscordApp.EventuallyAsync(
            () => _database.ScalarAsync<long>("SELECT count(*) FROM discord_writes WHERE status = 'sent'").GetAwaiter().GetResult() == 1000, "all marked sent");

        _discord.TooManyRequestsSent.ShouldBe(0, $"{_discord.GlobalTooManyRequestsSent} of them global (more than {_discord.GlobalLimit} in a second at the fake); max per second {_discord.MaxPerSecond}\n" + string.Join("\n", _discord.Requests.Where(r => r.Status == 429).Take(6).Select(r => $"{r.At:HH:mm:ss.fff} {r.Path}: " + string.Join(", ", _discord.Requests.Where(o => o.Path == r.Path && o.At >= r.At.AddMilliseconds(-400) && o.At <= r.At.AddMilliseconds(100)).Select(o => $"{o.At:ss.fff}/{o.Status}")))));
        _discord.Requests.Count.ShouldBe(1000);
        _discord.MaxPerSecond.ShouldBeLessThanOrEqualTo(50);
        foreach (var replica in _replicas)
        {
            // Both replicas did part of the work: the limit held across them, not within one.
            replica.Services.GetRequiredService<Freeside.Features.Common.Observability.PrometheusExporter>().Scrape()
                .ShouldContain("discord_writes_total{outcome=\"sent\"}");
        }
    }
}
