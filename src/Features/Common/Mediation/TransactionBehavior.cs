using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freeside.Features.Common.Mediation;

/// <summary>
/// Owns the unit of work for commands: begins a transaction, lets the handler (and the
/// conservation guard) run, saves and commits on success, rolls back on a failure value or an
/// exception. Re-entrant: a command sent from inside another joins the outer transaction.
/// A serialization failure or deadlock (PostgreSQL rolled it back) re-runs the whole unit through the
/// execution strategy; a lost connection never does (<see cref="RolledBackOnlyExecutionStrategy"/>).
/// </summary>
public sealed partial class TransactionBehavior<TRequest, TResponse>(
    FreesideDb db, TouchedAccounts touched, CommitNotifications notifications, IMediator mediator, ILogger<TransactionBehavior<TRequest, TResponse>> logger)
    : IPipelineBehavior<TRequest, TResponse>
{
    private static readonly bool IsCommand = typeof(TRequest).GetInterfaces()
        .Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ICommand<>));

    public async Task<TResponse> Handle(TRequest request, CancellationToken cancellationToken, RequestHandlerDelegate<TResponse> next)
    {
        if (!IsCommand || db.Database.CurrentTransaction is not null)
        {
            return await next();
        }

        var strategy = db.Database.CreateExecutionStrategy();
        var outcome = await strategy.ExecuteAsync(async ct =>
        {
            db.ChangeTracker.Clear();
            touched.Clear();
            notifications.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            try
            {
                var response = await next();
                if (response is IResultOutcome { Error: not null })
                {
                    await transaction.RollbackAsync(ct);
                    db.ChangeTracker.Clear();
                    return response;
                }

                await db.SaveChangesAsync(ct);
                await transaction.CommitAsync(ct);
                return response;
            }
            catch (DbUpdateException e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } unique
                && Failure<TResponse>.CanRepresent)
            {
                // Two requests raced past the handler's existence check (the flush may happen in the
                // conservation guard or here); the loser gets the same 409 it would have got a moment later.
                await transaction.RollbackAsync(ct);
                db.ChangeTracker.Clear();
                return Failure<TResponse>.From(new AlreadyExists(unique.ConstraintName ?? "record",
                    $"A record with the same {UniqueKeyName(unique.ConstraintName)} already exists."));
            }
        }, cancellationToken);

        await PublishCommittedAsync(outcome);
        return outcome;
    }

    private async Task PublishCommittedAsync(TResponse outcome)
    {
        var committed = notifications.Drain();
        if (outcome is IResultOutcome { Error: not null })
        {
            return;
        }

        foreach (var notification in committed)
        {
            try
            {
                // Not the request's token: the change is committed, so its announcement should go out.
                await mediator.Publish(notification, CancellationToken.None);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogPublishFailed(logger, notification.GetType().Name, e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A {Notification} handler failed after the commit; the command's result stands")]
    private static partial void LogPublishFailed(ILogger logger, string notification, Exception exception);

    private static string UniqueKeyName(string? constraint) =>
        constraint is null ? "key" : constraint.Replace("ux_", "", StringComparison.Ordinal).Replace('_', ' ');
}
