using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Freeside.Features.Common.Jobs;

/// <summary>
/// Starts the clustered scheduler once the application has started, and keeps trying while PostgreSQL is
/// unreachable or not yet migrated: building the scheduler opens the job store, which validates its
/// schema, and Quartz's own hosted service would fail the whole host on that during an outage (the web
/// side starts degraded and recovers; the jobs follow it, each retry building a new generation). Stops it on shutdown, letting running jobs end.
/// </summary>
internal sealed partial class ClusteredSchedulerHost(
    [FromKeyedServices(JobsRegistration.SchedulerName)] ISchedulerFactory factory,
    ISchedulerRuntime runtime,
    IHostApplicationLifetime lifetime,
    ILogger<ClusteredSchedulerHost> logger)
    : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(15);

    private IScheduler? _scheduler;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        await using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await started.Task.WaitAsync(stoppingToken);
        }

        var backoff = TimeSpan.FromSeconds(1);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (attempt > 0)
                {
                    // A scheduler whose build failed is shut down for good; the next try is a new generation.
                    await runtime.Restart(JobsRegistration.SchedulerName, new SchedulerRestartOptions { Start = false }, stoppingToken);
                }

                var scheduler = await factory.GetScheduler(stoppingToken);
                await scheduler.Start(stoppingToken);
                _scheduler = scheduler;
                LogStarted(logger, scheduler.SchedulerInstanceId);
                return;
            }
            catch (SchedulerException e)
            {
                LogNotStarted(logger, backoff.TotalSeconds, e.GetBaseException().Message);
            }

            await Task.Delay(backoff, stoppingToken);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_scheduler is { } scheduler)
        {
            try
            {
                // Bounded by the host's shutdown timeout: a replica that has lost PostgreSQL cannot record its
                // jobs' completion and would wait for ever; the cluster recovers what it leaves behind.
                await scheduler.Shutdown(waitForJobsToComplete: true, cancellationToken).AsTask().WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                LogShutdownAbandoned(logger);
            }
        }
    }

    [LoggerMessage(EventId = 9201, Level = LogLevel.Information, Message = "Clustered scheduler started as instance {InstanceId}")]
    private static partial void LogStarted(ILogger logger, string instanceId);

    [LoggerMessage(EventId = 9203, Level = LogLevel.Warning, Message = "Clustered scheduler did not stop within the shutdown timeout; the cluster recovers its running jobs' triggers")]
    private static partial void LogShutdownAbandoned(ILogger logger);

    [LoggerMessage(EventId = 9202, Level = LogLevel.Warning, Message = "Clustered scheduler could not start, retrying in {Seconds} s: {Reason}")]
    private static partial void LogNotStarted(ILogger logger, double seconds, string reason);
}
