using Freeside.Features.Identity.Keys;
using MediatR;
using Quartz;

namespace Freeside.Features.Identity;

/// <summary>Quarterly: rotates the signing key when it is older than SIGNING_KEY_MAX_AGE_SECONDS.</summary>
[DisallowConcurrentExecution]
public sealed class RotateSigningKeysJob(IMediator mediator) : IJob
{
    public const string Schedule = "0 0 3 1 1,4,7,10 ?";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var result = await mediator.Send(new RotateSigningKey.Command(RotateSigningKey.Trigger.Scheduled), cancellationToken);
        if (!result.IsSuccess)
        {
            throw new JobExecutionException($"Signing key rotation failed: {result.Error!.Detail}");
        }
    }
}

/// <summary>Hourly: drops expired nonces (so none outlives its expiry by more than an hour) and revocations a day past theirs.</summary>
[DisallowConcurrentExecution]
public sealed class PurgeExpiredIdentityRecordsJob(IMediator mediator) : IJob
{
    public const string Schedule = "0 17 * * * ?";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var result = await mediator.Send(new PurgeExpiredIdentityRecords.Command(), cancellationToken);
        if (!result.IsSuccess)
        {
            throw new JobExecutionException($"Purging expired identity records failed: {result.Error!.Detail}");
        }
    }
}
