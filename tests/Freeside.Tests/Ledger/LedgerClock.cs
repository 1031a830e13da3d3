using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Ledger;

/// <summary>The system clock plus an offset that tests move forward, so lots and holds can age without waiting.</summary>
public sealed class LedgerClock : TimeProvider
{
    private long _offsetTicks;

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow().AddTicks(Interlocked.Read(ref _offsetTicks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);
}

/// <summary>
/// The real host with a <see cref="LedgerClock"/> as its TimeProvider. It starts once, from xunit or
/// from <see cref="StartedAsync"/>: FsCheck.Xunit's [Property] runs before xunit has initialized
/// class fixtures (fscheck/FsCheck#657), so property tests start it themselves.
/// </summary>
public sealed class ClockedApp : FreesideApp, IAsyncLifetime
{
    private readonly SemaphoreSlim _start = new(1, 1);
    private bool _started;

    public LedgerClock Clock { get; } = new();

    public async Task<ClockedApp> StartedAsync()
    {
        await _start.WaitAsync();
        try
        {
            if (!_started)
            {
                await InitializeAsync();
                _started = true;
            }

            return this;
        }
        finally
        {
            _start.Release();
        }
    }

    Task IAsyncLifetime.InitializeAsync() => StartedAsync();

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync();

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<TimeProvider>(Clock);
}
