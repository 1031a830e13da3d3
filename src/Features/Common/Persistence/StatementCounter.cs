using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Freeside.Features.Common.Persistence;

/// <summary>
/// Counts the statements EF Core sends for a context (queries, saved changes, raw SQL: EF creates a command for each),
/// so that something read ahead in a unit can tell whether EF has sent anything since
/// (<see cref="FreesideDb.StatementsSent"/>). Stateless: one instance serves every context.
/// </summary>
internal sealed class StatementCounter : DbCommandInterceptor
{
    public static readonly StatementCounter Instance = new();

    public override DbCommand CommandCreated(CommandEndEventData eventData, DbCommand result)
    {
        (eventData.Context as FreesideDb)?.StatementSent();
        return result;
    }
}
