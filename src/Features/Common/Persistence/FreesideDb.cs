using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Common.Persistence;

/// <summary>
/// The one EF Core context. Entities are configured by <see cref="IEntityTypeConfiguration{TEntity}"/>
/// classes beside their capability and picked up from this assembly; the schema itself is owned by
/// the hand-written SQL migrations, so every name here must match them (snake_case).
/// </summary>
public sealed class FreesideDb : DbContext
{
    public const string AppRole = "freeside_app";

    public FreesideDb(DbContextOptions<FreesideDb> options)
        : base(options)
    {
        // A failed save fails the whole unit of work (TransactionBehavior rolls it back, never retries
        // inside it), so EF's savepoint around each SaveChanges would only cost two round trips.
        Database.AutoSavepointsEnabled = false;
    }

    /// <summary>
    /// How many statements EF Core has sent through this context (counted by <see cref="StatementCounter"/>; it only
    /// grows, also across the leases of a pooled context). Statements sent on the connection without EF are not counted.
    /// </summary>
    public long StatementsSent { get; private set; }

    internal void StatementSent() => StatementsSent++;

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(FreesideDb).Assembly);
        modelBuilder.UseSnakeCaseNames();
    }

    /// <summary>
    /// Narrows row-level security to one community for the rest of the current transaction.
    /// Tenant tables' policies compare their community_id with this setting.
    /// </summary>
    public Task EnterCommunityAsync(Guid communityId, CancellationToken cancellationToken) =>
        SetScopeAsync(TenantScope.Of(communityId), cancellationToken);

    /// <summary>
    /// Runs a read under one community's row-level-security scope. The scope lives in a transaction,
    /// so the read gets a read-only one that is never committed, only disposed. Inside a command's
    /// transaction the scope is simply entered.
    /// </summary>
    public async Task<T> ReadInCommunityAsync<T>(Guid communityId, Func<CancellationToken, Task<T>> read, CancellationToken cancellationToken)
    {
        if (Database.CurrentTransaction is not null)
        {
            await EnterCommunityAsync(communityId, cancellationToken);
            return await read(cancellationToken);
        }

        return await Database.CreateExecutionStrategy().ExecuteAsync(async ct =>
        {
            await using var transaction = await Database.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, ct);
            // Read-only and scoped in one round trip (BEGIN travels with it).
            await Database.ExecuteSqlAsync(
                FormattableStringFactory.Create("SET TRANSACTION READ ONLY; SELECT " + TenantScope.Set("{0}"), TenantScope.Of(communityId)), ct);
            return await read(ct);
        }, cancellationToken);
    }

    /// <summary>Platform-wide scope for platform-admin commands and jobs that span communities.</summary>
    public Task EnterPlatformScopeAsync(CancellationToken cancellationToken) => SetScopeAsync(TenantScope.Platform, cancellationToken);

    private async Task SetScopeAsync(string scope, CancellationToken cancellationToken)
    {
        if (Database.CurrentTransaction is null)
        {
            throw new InvalidOperationException("A tenant scope applies to a transaction; start one first.");
        }

        await Database.ExecuteSqlAsync(FormattableStringFactory.Create("SELECT " + TenantScope.Set("{0}"), scope), cancellationToken);
    }
}
