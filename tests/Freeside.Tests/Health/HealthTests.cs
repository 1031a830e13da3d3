using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Health;

public sealed class HealthTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task GetHealth_AllUp_IsOkWithContractVersion()
    {
        var response = await app.CreateClient().GetAsync("/health");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Headers.GetValues("X-Contract-Version").ShouldBe(["7.0.0"]);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("status").GetString().ShouldBe("ok");
        body.GetProperty("contract_version").GetString().ShouldBe("7.0.0");
        body.GetProperty("uptime_s").ValueKind.ShouldBe(JsonValueKind.Number);
        body.GetProperty("version").GetString().ShouldNotBeNullOrEmpty();
        body.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString().ShouldBe("ok");
        body.GetProperty("checks").GetProperty("postgres").GetProperty("latency_ms").GetDouble().ShouldBeGreaterThanOrEqualTo(0);
        body.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString().ShouldBe("ok");
    }
}

public sealed class RedisDownApp : FreesideApp
{
    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["REDIS_URL"] = "redis://127.0.0.1:1";
        return settings;
    }
}

public sealed class HealthWithoutRedisTests(RedisDownApp app) : IClassFixture<RedisDownApp>
{
    [Fact]
    public async Task GetHealth_RedisDown_IsDegradedButServing()
    {
        var response = await app.CreateClient().GetAsync("/health");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("status").GetString().ShouldBe("degraded");
        body.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString().ShouldBe("down");
        body.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString().ShouldBe("ok");
    }
}
