using Freeside.Features.Common.Errors;
using MediatR;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Freeside.Features.Ledger;

/// <summary>The ledger's schedules. Each job only sends its command; a failure is logged and surfaces to Quartz.</summary>
public static partial class LedgerJobs
{
    public static void Schedule(IQuartzBuilder quartz)
    {
        quartz.ScheduleJob<ReleaseOrphanedHoldsJob>(trigger => trigger
            .WithIdentity("ledger-release-orphaned-holds")
            .WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromMinutes(1)).RepeatForever()));
        quartz.ScheduleJob<AuditConservationJob>(trigger => trigger
            .WithIdentity("ledger-audit-conservation")
            .WithCronSchedule("0 7 * * * ?"));
        quartz.ScheduleJob<ExpireLotsJob>(trigger => trigger
            .WithIdentity("ledger-expire-lots")
            .WithCronSchedule("0 3 * * * ?"));
    }

    internal static async Task SendAsync<T>(IMediator mediator, IRequest<Result<T>> command, ILogger logger, CancellationToken cancellationToken)
    {
        var result = await mediator.Send(command, cancellationToken);
        if (!result.IsSuccess)
        {
            LogFailed(logger, command.GetType().DeclaringType?.Name ?? command.GetType().Name, result.Error!.Type, result.Error.Detail);
            throw new JobExecutionException($"{command.GetType().DeclaringType?.Name} failed: {result.Error.Type}");
        }
    }

    [LoggerMessage(EventId = 9102, Level = LogLevel.Error, Message = "Ledger job {Job} failed: {ErrorType} {Detail}")]
    private static partial void LogFailed(ILogger logger, string job, string errorType, string detail);
}

[DisallowConcurrentExecution]
public sealed class ReleaseOrphanedHoldsJob(IMediator mediator, ILogger<ReleaseOrphanedHoldsJob> logger) : IJob
{
    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default) =>
        new(LedgerJobs.SendAsync(mediator, new ReleaseOrphanedHolds.Command(), logger, cancellationToken));
}

[DisallowConcurrentExecution]
public sealed class AuditConservationJob(IMediator mediator, ILogger<AuditConservationJob> logger) : IJob
{
    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default) =>
        new(LedgerJobs.SendAsync(mediator, new AuditConservation.Command(null), logger, cancellationToken));
}

[DisallowConcurrentExecution]
public sealed class ExpireLotsJob(IMediator mediator, ILogger<ExpireLotsJob> logger) : IJob
{
    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default) =>
        new(LedgerJobs.SendAsync(mediator, new ExpireLots.Command(), logger, cancellationToken));
}
