using Freeside.Features.Linking;
using MediatR;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Freeside.Features.Discord;

public static partial class DiscordJobs
{
    /// <summary>
    /// Hourly, so each link is re-verified once it is 24 h old and a link the chain could not answer for
    /// is tried again within the hour; a daily run would let one outage at run time push a link to 48 h.
    /// </summary>
    public static void Schedule(IQuartzBuilder quartz) =>
        quartz.ScheduleJob<ReverifyLinksJob>(trigger => trigger
            .WithIdentity("discord-reverify-links")
            .WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromHours(1)).RepeatForever()));

    [LoggerMessage(EventId = 9601, Level = LogLevel.Warning, Message = "Re-verifying the Discord link of user {UserId} failed: {ErrorType} {Detail}")]
    internal static partial void LogReverifyFailed(ILogger logger, string userId, string errorType, string detail);

    [LoggerMessage(EventId = 9602, Level = LogLevel.Information, Message = "Re-verified Discord links: {Verified} verified, {NotHolding} holding nothing, {Unanswered} left for the chain to answer")]
    internal static partial void LogReverified(ILogger logger, int verified, int notHolding, int unanswered);
}

/// <summary>Re-verifies Discord wallet links older than 24 h, a page of 100 at a time, each claimed so no other replica takes it.</summary>
[DisallowConcurrentExecution]
public sealed class ReverifyLinksJob(IMediator mediator, ILogger<ReverifyLinksJob> logger) : IJob
{
    public const int PageSize = 100;

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        int verified = 0, notHolding = 0, unanswered = 0;
        while (true)
        {
            var page = await mediator.Send(new ClaimLinksToReverify.Command(LinkPlatform.Discord, PageSize), cancellationToken);
            if (!page.IsSuccess)
            {
                throw new JobExecutionException($"Claiming Discord links to re-verify failed: {page.Error!.Type}");
            }

            if (page.Value.Count == 0)
            {
                break;
            }

            foreach (var link in page.Value)
            {
                var result = await mediator.Send(new ReverifyLink.Command(link.ExternalUserId, link.Wallet), cancellationToken);
                if (!result.IsSuccess)
                {
                    // One link that cannot be settled must not stop the others; it is claimed again next hour.
                    DiscordJobs.LogReverifyFailed(logger, link.ExternalUserId, result.Error!.Type, result.Error.Detail);
                    continue;
                }

                switch (result.Value)
                {
                    case ReverifyLink.Outcome.Verified:
                        verified++;
                        break;
                    case ReverifyLink.Outcome.NotHolding:
                        notHolding++;
                        break;
                    default:
                        unanswered++;
                        break;
                }
            }
        }

        DiscordJobs.LogReverified(logger, verified, notHolding, unanswered);
    }
}
