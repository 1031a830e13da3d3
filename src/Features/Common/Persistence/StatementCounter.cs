using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Freeside.Features.Common.Persistence;

/// <summary>
/// Counts the statements EF Core sends for a context (queries, saved changes, raw SQL), so that something read
/// ahead in a unit can tell whether EF has sent anything since (<see cref="FreesideDb.StatementsSent"/>).
/// Stateless: one instance serves every context.
/// </summary>
internal sealed class StatementCounter : DbCommandInterceptor
{
    public static readonly StatementCounter Instance = new();

    public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        Count(eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        Count(eventData);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        Count(eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Count(eventData);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<object> ScalarExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<object> result)
    {
        Count(eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        Count(eventData);
        return ValueTask.FromResult(result);
    }

    private static void Count(CommandEventData eventData)
    {
        if (eventData.Context is FreesideDb db)
        {
            db.StatementSent();
        }
    }
}
