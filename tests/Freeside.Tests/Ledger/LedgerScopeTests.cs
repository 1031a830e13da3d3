using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Ledger;
using Freeside.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freeside.Tests.Ledger;

/// <summary>Records the row-level-security scope each credit-moving command ran in, read inside its own transaction.</summary>
public sealed class ScopeProbe(FreesideDb db, ScopeLog log) : IConservationCheck
{
    public async Task<IReadOnlyList<InvariantViolation>> CheckAsync(IReadOnlyCollection<Guid> accountIds, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT current_setting('{TenantScope.Setting}', true)", (NpgsqlConnection)db.Database.GetDbConnection(),
            (NpgsqlTransaction)db.Database.CurrentTransaction!.GetDbTransaction());
        log.Scopes.Enqueue(((string?)await command.ExecuteScalarAsync(cancellationToken) ?? "", [.. accountIds]));
        return [];
    }
}

public sealed class ScopeLog
{
    public System.Collections.Concurrent.ConcurrentQueue<(string Scope, Guid[] Accounts)> Scopes { get; } = new();

    public string Last(Guid account) => Scopes.Where(s => s.Accounts.Contains(account)).Select(s => s.Scope).Last();
}

public sealed class ScopeApp : FreesideApp
{
    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton<ScopeLog>();
        services.AddScoped<IConservationCheck, ScopeProbe>();
    }
}

public sealed class LedgerScopeTests(ScopeApp app) : IClassFixture<ScopeApp>
{
    private ScopeLog Log => app.Services.GetRequiredService<ScopeLog>();

    private Task<Guid> CommunityOfAsync(Guid account) =>
        app.Database.ScalarAsync<Guid>("SELECT community_id FROM credit_accounts WHERE id = @a", ("a", account));

    [Fact]
    public async Task OneCommunitysCommands_RunInThatCommunitysScope()
    {
        var (slug, account) = await app.FundedCommunityAsync(1000);
        var community = (await CommunityOfAsync(account)).ToString();
        Log.Last(account).ShouldBe(community);

        var hold = (await app.SendAsync(new ReserveCredits.Command(account, 300, "scoped"))).Value;
        Log.Last(account).ShouldBe(community);
        (await app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 100, new Usage(), "fin-scoped"))).IsSuccess.ShouldBeTrue();
        Log.Last(account).ShouldBe(community);
        (await app.SendAsync(new ReverseCharge.Command(slug, hold.ReservationId, 10, "r", "rev-scoped"))).IsSuccess.ShouldBeTrue();
        Log.Last(account).ShouldBe(community);
        var other = (await app.SendAsync(new ReserveCredits.Command(account, 10, "scoped-2"))).Value;
        (await app.SendAsync(new ReleaseReservation.Command(account, other.ReservationId, "r"))).IsSuccess.ShouldBeTrue();
        Log.Last(account).ShouldBe(community);
    }

    [Fact]
    public async Task Batch_OfOneCommunity_RunsInItsScope_AndAcrossCommunities_InThePlatformScope()
    {
        var (_, a) = await app.FundedCommunityAsync(1000);
        var (_, b) = await app.FundedCommunityAsync(1000);

        var single = await app.SendAsync(new ApplyLedgerBatch.Command(
            [new ReserveCredits.Command(a, 10, "one-1"), new ReserveCredits.Command(a, 10, "one-2")]));
        single.IsSuccess.ShouldBeTrue();
        Log.Last(a).ShouldBe((await CommunityOfAsync(a)).ToString());

        var mixed = await app.SendAsync(new ApplyLedgerBatch.Command(
            [new ReserveCredits.Command(a, 10, "mixed-1"), new ReserveCredits.Command(b, 10, "mixed-2")]));
        mixed.Value.ShouldAllBe(o => o.Error == null);
        Log.Last(b).ShouldBe(TenantScope.Platform);
    }

    [Fact]
    public async Task Reserve_InOneCommunitysScope_CannotSettleAnotherCommunitysReservation()
    {
        var (_, a) = await app.FundedCommunityAsync(1000);
        var (_, b) = await app.FundedCommunityAsync(1000);
        var theirs = (await app.SendAsync(new ReserveCredits.Command(b, 300, "theirs"))).Value;

        var finalized = await app.SendAsync(new FinalizeReservation.Command(a, theirs.ReservationId, 300, new Usage(), "not-mine"));

        finalized.Error.ShouldBeOfType<NotFound>();
        (await app.PendingHeldAsync(b)).ShouldBe(300);
    }

    [Fact]
    public async Task CrossCommunityJobs_RunInThePlatformScope()
    {
        var (_, account) = await app.FundedCommunityAsync(1000);
        await app.SendAsync(new ReserveCredits.Command(account, 300, "orphan"));

        (await app.SendAsync(new ReleaseOrphanedHolds.Command(OlderThanSeconds: 0))).Value.Ran.ShouldBeTrue();

        Log.Last(account).ShouldBe(TenantScope.Platform);
    }

    [Fact]
    public async Task DeveloperAccount_HasNoCommunity_SoItsCommandsRunInThePlatformScope()
    {
        var developer = (await app.SendAsync(new OpenCreditAccount.Command(null, Guid.NewGuid()))).Value;

        (await app.SendAsync(new ReserveCredits.Command(developer, 0, "byok"))).IsSuccess.ShouldBeTrue();

        Log.Last(developer).ShouldBe(TenantScope.Platform);
    }
}
