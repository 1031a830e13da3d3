using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Redis;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Freeside.Tests.Common.Redis;

/// <summary>REDIS_KEY_PREFIX: two deployments on one Redis see neither each other's keys nor each other's channels.</summary>
public sealed class RedisKeyPrefixTests : IAsyncLifetime
{
    private readonly string _a = "prefix-a-" + Guid.NewGuid().ToString("N") + ":";
    private readonly string _b = "prefix-b-" + Guid.NewGuid().ToString("N") + ":";
    private readonly List<RedisConnection> _connections = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _connections.ForEach(c => c.Dispose());
        return Task.CompletedTask;
    }

    private async Task<RedisConnection> ConnectAsync(string? prefix)
    {
        var errors = new List<string>();
        var redis = new RedisConnection(new RedisSettings(FreesideSettings.ParseRedis(TestEnvironment.RedisUrl!, errors), prefix), NullLogger<RedisConnection>.Instance);
        _connections.Add(redis);
        await redis.ConnectAsync();
        return redis;
    }

    [Fact]
    public async Task Keys_OfTwoPrefixes_AreApartAndStoredUnderThePrefix()
    {
        var (a, b, plain) = (await ConnectAsync(_a), await ConnectAsync(_b), await ConnectAsync(null));
        a.TryGetDatabase(out var dbA).ShouldBeTrue();
        b.TryGetDatabase(out var dbB).ShouldBeTrue();
        plain.TryGetDatabase(out var raw).ShouldBeTrue();

        await dbA.StringSetAsync("owner", "alice", TimeSpan.FromMinutes(1));
        await dbB.StringSetAsync("owner", "bob", TimeSpan.FromMinutes(1));

        ((string?)await dbA.StringGetAsync("owner")).ShouldBe("alice");
        ((string?)await dbB.StringGetAsync("owner")).ShouldBe("bob");
        ((string?)await raw.StringGetAsync(_a + "owner")).ShouldBe("alice");
        (await raw.KeyExistsAsync("owner")).ShouldBeFalse();
    }

    [Fact]
    public async Task Channels_OfTwoPrefixes_DoNotHearEachOther()
    {
        var (a, b) = (await ConnectAsync(_a), await ConnectAsync(_b));
        var heardByB = new List<string>();
        var heardByA = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await b.Subscriber!.SubscribeAsync(b.Channel("events"), (_, m) => { lock (heardByB) { heardByB.Add((string)m!); } });
        await a.Subscriber!.SubscribeAsync(a.Channel("events"), (_, m) => heardByA.TrySetResult((string)m!));

        await a.Subscriber.PublishAsync(a.Channel("events"), "for a");

        (await heardByA.Task.WaitAsync(TimeSpan.FromSeconds(10))).ShouldBe("for a");
        await Task.Delay(200);
        lock (heardByB)
        {
            heardByB.ShouldBeEmpty();
        }
    }
}
