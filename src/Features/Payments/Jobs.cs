using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Payments.Domain;
using FluentValidation;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Freeside.Features.Payments;

public static partial class PaymentsJobs
{
    public static void Schedule(IQuartzBuilder quartz) =>
        quartz.ScheduleJob<ReconcilePaymentsJob>(trigger => trigger
            .WithIdentity("payments-reconcile")
            .WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromMinutes(5)).RepeatForever()));

    [LoggerMessage(EventId = 9105, Level = LogLevel.Warning, Message = "Reconciling payment {PaymentId} failed: {ErrorType} {Detail}")]
    internal static partial void LogReconcileFailed(ILogger logger, Guid paymentId, string errorType, string detail);
}

/// <summary>Payments not yet terminal and older than 15 minutes: the ones whose IPNs may have been lost.</summary>
public static class ListOpenPayments
{
    public static readonly TimeSpan OlderThan = TimeSpan.FromMinutes(15);

    public sealed record Query(int Limit = 200) : IQuery<IReadOnlyList<Guid>>;

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Limit).InclusiveBetween(1, 1000);
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<IReadOnlyList<Guid>>>
    {
        public async Task<Result<IReadOnlyList<Guid>>> Handle(Query request, CancellationToken cancellationToken)
        {
            var before = time.GetUtcNow() - OlderThan;
            return await db.Database.CreateExecutionStrategy().ExecuteAsync(async ct =>
            {
                await using var transaction = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, ct);
                await db.EnterPlatformScopeAsync(ct);
                IReadOnlyList<Guid> ids = await db.Set<Payment>().AsNoTracking()
                    .Where(p => p.CreatedAt < before && (p.Status == PaymentStatus.Waiting || p.Status == PaymentStatus.Confirming
                        || p.Status == PaymentStatus.Confirmed || p.Status == PaymentStatus.Sending || p.Status == PaymentStatus.PartiallyPaid))
                    .OrderBy(p => p.CreatedAt).Select(p => p.Id).Take(request.Limit).ToListAsync(ct);
                return Result<IReadOnlyList<Guid>>.Success(ids);
            }, cancellationToken);
        }
    }
}

/// <summary>Every 5 minutes: each open payment older than 15 minutes is reconciled in its own transaction.</summary>
[DisallowConcurrentExecution]
public sealed class ReconcilePaymentsJob(IMediator mediator, ILogger<ReconcilePaymentsJob> logger) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var open = await mediator.Send(new ListOpenPayments.Query(), cancellationToken);
        if (!open.IsSuccess)
        {
            throw new JobExecutionException($"ListOpenPayments failed: {open.Error!.Type}");
        }

        foreach (var id in open.Value)
        {
            var result = await mediator.Send(new ReconcilePayment.Command(id, "reconciliation-job"), cancellationToken);
            if (!result.IsSuccess)
            {
                // One payment NOWPayments cannot answer for must not stop the others.
                PaymentsJobs.LogReconcileFailed(logger, id, result.Error!.Type, result.Error.Detail);
            }
        }
    }
}
