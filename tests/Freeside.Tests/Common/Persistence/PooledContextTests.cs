using Freeside.Features.Common.Persistence;
using Freeside.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Common.Persistence;

/// <summary>
/// The context is pooled (building one per request was about 5 % of a chat's CPU): a second scope gets the first
/// scope's instance back, reset, with the configuration its constructor set, and the count of statements EF sent
/// keeps growing across the leases (the ledger's guard compares it within a unit).
/// </summary>
public sealed class PooledContextTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Context_FromTheNextScope_IsTheSameInstanceResetWithItsConfiguration()
    {
        FreesideDb first;
        long sent;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            first = scope.ServiceProvider.GetRequiredService<FreesideDb>();
            first.Database.AutoSavepointsEnabled.ShouldBeFalse();
            var before = first.StatementsSent;
            (await first.Database.SqlQuery<int>($"SELECT 1 AS \"Value\"").SingleAsync()).ShouldBe(1);
            first.StatementsSent.ShouldBe(before + 1);
            first.ChangeTracker.QueryTrackingBehavior = QueryTrackingBehavior.NoTracking;
            sent = first.StatementsSent;
        }

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var second = scope.ServiceProvider.GetRequiredService<FreesideDb>();
            second.ShouldBeSameAs(first);
            second.Database.AutoSavepointsEnabled.ShouldBeFalse();
            second.ChangeTracker.QueryTrackingBehavior.ShouldBe(QueryTrackingBehavior.TrackAll, "the pool resets what a lease changed");
            second.StatementsSent.ShouldBe(sent);
        }
    }
}
