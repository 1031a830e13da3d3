using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Quartz;

namespace Freeside.Features.Telegram;

/// <summary>
/// Forgets handled updates older than <see cref="KeepFor"/>. A row is the replay guard of its update
/// id, but Telegram keeps an unconfirmed update for at most 24 hours, so after a week no redelivery
/// can arrive; updates not yet handled are kept whatever their age (they wait for recovery). One
/// batch per command, SKIP LOCKED, so replicas purging at once split the rows.
/// </summary>
public static class PurgeUpdates
{
    public static readonly TimeSpan KeepFor = TimeSpan.FromDays(7);

    public sealed record Command(int Limit = 5000) : ICommand<int>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Limit).InclusiveBetween(1, 50_000);
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<int>>
    {
        public async Task<Result<int>> Handle(Command request, CancellationToken cancellationToken) =>
            await db.Database.ExecuteSqlAsync($"""
                DELETE FROM telegram_updates WHERE update_id IN (
                    SELECT update_id FROM telegram_updates
                    WHERE handled_at IS NOT NULL AND received_at < {time.GetUtcNow() - KeepFor}
                    ORDER BY received_at LIMIT {request.Limit} FOR UPDATE SKIP LOCKED)
                """, cancellationToken);
    }
}

/// <summary>Every hour: handled updates older than a week are deleted, a batch at a time until none is left.</summary>
[DisallowConcurrentExecution]
public sealed class PurgeUpdatesJob(IMediator mediator) : IJob
{
    public static void Schedule(IQuartzBuilder quartz) =>
        quartz.ScheduleJob<PurgeUpdatesJob>(trigger => trigger
            .WithIdentity("telegram-purge-updates")
            .WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromHours(1)).RepeatForever()));

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var batch = new PurgeUpdates.Command();
        while (true)
        {
            var purged = await mediator.Send(batch, cancellationToken);
            if (!purged.IsSuccess)
            {
                throw new JobExecutionException($"PurgeUpdates failed: {purged.Error!.Type}");
            }

            if (purged.Value < batch.Limit)
            {
                return;
            }
        }
    }
}
