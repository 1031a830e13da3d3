namespace Freeside.Features.Common.Jobs;

/// <summary>
/// Wakes a queue's worker when something was queued, so it does not wait for its next poll. Each queue
/// has its own subclass (one singleton each), so one queue's writes never wake another's worker.
/// </summary>
public abstract class WakeSignal
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public void Notify()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _signal.WaitAsync(timeout, cancellationToken);
}

/// <summary>The loop of a hosted worker that drains a durable queue in PostgreSQL (Discord writes, stored IPNs).</summary>
public static class QueueWorker
{
    /// <summary>
    /// Runs rounds until the host stops. A round that found nothing to do is followed by a sleep until the
    /// signal or <paramref name="poll"/>, whichever comes first. A round that throws is reported to
    /// <paramref name="failed"/> and the next one tries again: an exception escaping a BackgroundService stops
    /// the whole host, and the queue is durable, so nothing is lost by carrying on.
    /// </summary>
    public static async Task RunAsync(Func<CancellationToken, Task<int>> round, WakeSignal signal, TimeSpan poll, Action<Exception> failed,
        CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            int done;
            try
            {
                done = await round(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                failed(e);
                done = 0;
            }

            if (done == 0)
            {
                try
                {
                    await signal.WaitAsync(poll, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
