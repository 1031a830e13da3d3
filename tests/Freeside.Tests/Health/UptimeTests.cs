using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Health;

/// <summary>The host with a clock the test moves by hand.</summary>
public sealed class SteppedClockApp : FreesideApp
{
    public SteppedTime Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<TimeProvider>(Time);

    public sealed class SteppedTime(DateTimeOffset start) : TimeProvider
    {
        private long _ticks = start.UtcTicks;

        public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}

public sealed class UptimeTests(SteppedClockApp app) : IClassFixture<SteppedClockApp>
{
    [Fact]
    public async Task GetHealth_TimePassedSinceStart_ReportsWholeSecondsSinceStart()
    {
        // Time passes before anyone asks: uptime counts from start-up, not from the first /health.
        app.Time.Advance(TimeSpan.FromSeconds(90.7));
        var first = await UptimeAsync();

        app.Time.Advance(TimeSpan.FromSeconds(30));
        var second = await UptimeAsync();

        first.ShouldBe(90);
        second.ShouldBe(120);
    }

    private async Task<long> UptimeAsync()
    {
        var body = await app.CreateClient().GetFromJsonAsync<JsonElement>("/health");
        return body.GetProperty("uptime_s").GetInt64();
    }
}
