using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Ledger;
using Freeside.Tests.Infrastructure;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freeside.Tests.Ledger;

public sealed class GuardApp : FreesideApp
{
    protected override void ConfigureServices(IServiceCollection services) =>
        services.AddFreesideMediation(typeof(GuardApp).Assembly);
}

/// <summary>A deliberately wrong handler: it adds one micro-USD to a lot out of thin air (breaks C1, and C5 with it).</summary>
public static class InflateLot
{
    public sealed record Command(Guid AccountId, Guid LotId) : ICommand<Unit>, IMovesCredits;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.LotId).NotEmpty();
    }

    internal sealed class Handler(FreesideDb db, LedgerStore store) : IRequestHandler<Command, Result<Unit>>
    {
        public async Task<Result<Unit>> Handle(Command request, CancellationToken cancellationToken)
        {
            await db.EnterPlatformScopeAsync(cancellationToken);
            await db.Database.ExecuteSqlAsync($"UPDATE credit_lots SET available = available + 1 WHERE id = {request.LotId}", cancellationToken);
            store.TouchOutsideDomain(request.AccountId, request.LotId);
            return Unit.Value;
        }
    }
}

/// <summary>A deliberately wrong handler: it forgives one micro-USD of debt that no repay entry paid (breaks C6).</summary>
public static class ForgiveDebt
{
    public sealed record Command(Guid AccountId, Guid LotId) : ICommand<Unit>, IMovesCredits;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.LotId).NotEmpty();
    }

    internal sealed class Handler(FreesideDb db, LedgerStore store) : IRequestHandler<Command, Result<Unit>>
    {
        public async Task<Result<Unit>> Handle(Command request, CancellationToken cancellationToken)
        {
            await db.EnterPlatformScopeAsync(cancellationToken);
            await db.Database.ExecuteSqlAsync($"UPDATE credit_accounts SET debt_micro = debt_micro + 1 WHERE id = {request.AccountId}", cancellationToken);
            store.TouchOutsideDomain(request.AccountId, request.LotId);
            return Unit.Value;
        }
    }
}

/// <summary>
/// Reserves through the store (whose flush reads the guard ahead), then, depending on <see cref="Command.Then"/>, inflates
/// the reserved lot through EF (unseen by the store's touches, which already hold that lot), or only sends a harmless EF
/// query; returns whether the guard's read-ahead was there before and after that statement.
/// </summary>
public static class ReserveThenSend
{
    public sealed record Command(Guid AccountId, string Then, Guid? OtherAccountId = null) : ICommand<(bool Before, bool After)>, IMovesCredits;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Then).Must(t => t is "inflate" or "query" or "inflate-first");
    }

    internal sealed class Handler(FreesideDb db, LedgerStore store, TouchedAccounts touched) : IRequestHandler<Command, Result<(bool Before, bool After)>>
    {
        public async Task<Result<(bool Before, bool After)>> Handle(Command request, CancellationToken cancellationToken)
        {
            await db.EnterPlatformScopeAsync(cancellationToken);
            var lot = await db.Database.SqlQuery<Guid>($"SELECT id AS \"Value\" FROM credit_lots WHERE account_id = {request.AccountId}").SingleAsync(cancellationToken);
            if (request is { Then: "inflate-first", OtherAccountId: { } other })
            {
                // Before the flush, and recorded: the flush's own read of the guard must see it (another account's debt
                // that no clawback explains; the reserve itself is on an account in good standing).
                var otherLot = await db.Database.SqlQuery<Guid>($"SELECT id AS \"Value\" FROM credit_lots WHERE account_id = {other}").SingleAsync(cancellationToken);
                await db.Database.ExecuteSqlAsync($"UPDATE credit_accounts SET debt_micro = debt_micro + 1 WHERE id = {other}", cancellationToken);
                store.TouchOutsideDomain(other, otherLot);
            }

            var reserve = new ReserveCredits.Command(request.AccountId, 10, "read-ahead-" + Guid.NewGuid().ToString("N"));
            await store.LoadAsync(LedgerScope.Platform, [(request.AccountId, reserve.IdempotencyKey)], [], cancellationToken);
            ReserveCredits.Decide(store, reserve).IsSuccess.ShouldBeTrue();
            await store.SaveAsync(cancellationToken);
            var before = store.GuardReadWithLastFlush(touched.Accounts) is not null;
            if (request.Then == "inflate")
            {
                await db.Database.ExecuteSqlAsync($"UPDATE credit_lots SET available = available + 1 WHERE id = {lot}", cancellationToken);
            }
            else if (request.Then == "query")
            {
                await db.Database.SqlQuery<int>($"SELECT 1 AS \"Value\"").SingleAsync(cancellationToken);
            }

            return (before, store.GuardReadWithLastFlush(touched.Accounts) is not null);
        }
    }
}

public sealed class LedgerInvariantsTests(GuardApp app) : IClassFixture<GuardApp>
{
    [Fact]
    public async Task Guard_DebtWithoutAClawback_RolledBackAsC6()
    {
        var (_, account) = await app.FundedCommunityAsync(500);
        var lot = await app.Database.ScalarAsync<Guid>("SELECT id FROM credit_lots WHERE account_id = @a", ("a", account));

        var result = await app.SendAsync(new ForgiveDebt.Command(account, lot));

        result.Error.ShouldBeOfType<ConservationViolated>().Invariant.ShouldBe("C6");
        (await app.ScalarLongAsync("SELECT debt_micro FROM credit_accounts WHERE id = @a", account)).ShouldBe(0);
        (await app.ScalarLongAsync("SELECT count(*) FROM conservation_violations WHERE account_id = @a AND invariant = 'C6' AND source = 'guard'", account)).ShouldBe(1);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Guard_HandlerBreaksC1_RolledBackCountedAndRecorded()
    {
        var (_, account) = await app.FundedCommunityAsync(500);
        var lot = await app.Database.ScalarAsync<Guid>("SELECT id FROM credit_lots WHERE account_id = @a", ("a", account));
        var before = LedgerTestKit.Counter(app.ScrapeMetrics(), "conservation_guard_failures_total{invariant=\"C1\"}");

        var result = await app.SendAsync(new InflateLot.Command(account, lot));

        result.Error.ShouldBeOfType<ConservationViolated>().Invariant.ShouldBe("C1");
        ProblemMapping.StatusFor(result.Error!.Kind).ShouldBe(500);
        (await app.AvailableAsync(account)).ShouldBe(500);
        // At least: test classes run in parallel and share the meter (the audit tests count C1 too).
        LedgerTestKit.Counter(app.ScrapeMetrics(), "conservation_guard_failures_total{invariant=\"C1\"}").ShouldBeGreaterThanOrEqualTo(before + 1);
        (await app.ScalarLongAsync("SELECT count(*) FROM conservation_violations WHERE account_id = @a AND invariant = 'C1' AND source = 'guard'", account)).ShouldBe(1);
        await app.ShouldAuditCleanAsync();
    }

    /// <summary>
    /// The guard's statement rides on the flush; a statement sent through EF after it makes the guard read again, so a
    /// lot inflated after the flush is still caught (C1), and nothing commits.
    /// </summary>
    [Fact]
    public async Task Guard_LotInflatedThroughEfAfterTheFlush_ReadAgainAndRolledBack()
    {
        var (_, account) = await app.FundedCommunityAsync(500);

        var result = await app.SendAsync(new ReserveThenSend.Command(account, "inflate"));

        result.Error.ShouldBeOfType<ConservationViolated>().Invariant.ShouldBe("C1");
        (await app.AvailableAsync(account)).ShouldBe(500);
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_reservations WHERE account_id = @a", account)).ShouldBe(0);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Guard_ReadByTheFlush_UsedUntilEfSendsAStatement()
    {
        var (_, account) = await app.FundedCommunityAsync(500);

        var result = await app.SendAsync(new ReserveThenSend.Command(account, "query"));

        result.IsSuccess.ShouldBeTrue(result.Error?.Detail);
        result.Value.Before.ShouldBeTrue("the flush read the guard");
        result.Value.After.ShouldBeFalse("a statement sent through EF since makes the guard read again");
        (await app.AvailableAsync(account)).ShouldBe(490);
        await app.ShouldAuditCleanAsync();
    }

    /// <summary>A violation the flush's own guard read sees (a recorded write before it) fails the command.</summary>
    [Fact]
    public async Task Guard_ViolationSeenByTheFlushItself_RolledBack()
    {
        var (_, account) = await app.FundedCommunityAsync(500);
        var (_, other) = await app.FundedCommunityAsync(500);

        var result = await app.SendAsync(new ReserveThenSend.Command(account, "inflate-first", other));

        result.Error.ShouldBeOfType<ConservationViolated>().Invariant.ShouldBe("C6");
        (await app.ScalarLongAsync("SELECT debt_micro FROM credit_accounts WHERE id = @a", other)).ShouldBe(0);
        (await app.AvailableAsync(account)).ShouldBe(500);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Database_LotSumBrokenOutsideTheGuard_RefusedAtCommit()
    {
        var (_, account) = await app.FundedCommunityAsync(500);

        var refused = await Should.ThrowAsync<PostgresException>(() => app.Database.ExecuteAsync(
            $"BEGIN; SELECT {TenantScope.Set("'*'")}; UPDATE credit_lots SET available = available + 1 WHERE account_id = '{account}'; COMMIT;",
            asApp: true));

        refused.SqlState.ShouldBe(PostgresErrorCodes.CheckViolation);
        (await app.AvailableAsync(account)).ShouldBe(500);
    }

    [Fact]
    public async Task Database_SettledReservationSettledAgain_RefusedAsC3()
    {
        var (_, account, reservation) = await app.ChargedAsync(500, 100, 40);

        // As the owner, whom the grants do not stop: the trigger is what refuses it.
        var refused = await Should.ThrowAsync<PostgresException>(() => app.Database.ExecuteAsync(
            $"BEGIN; SELECT {TenantScope.Set("'*'")}; UPDATE credit_reservations SET status = 'released', charged = NULL, finalization_id = NULL WHERE id = '{reservation}'; COMMIT;"));

        refused.SqlState.ShouldBe(PostgresErrorCodes.CheckViolation);
        refused.MessageText.ShouldStartWith("C3: reservation");
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_reservations WHERE account_id = @a AND status = 'finalized'", account)).ShouldBe(1);
    }

    [Fact]
    public async Task Database_NegativeLotColumn_Refused()
    {
        var (_, account) = await app.FundedCommunityAsync(500);

        var refused = await Should.ThrowAsync<PostgresException>(() => app.Database.ExecuteAsync(
            $"BEGIN; SELECT {TenantScope.Set("'*'")}; UPDATE credit_lots SET available = available - 501, reserved = reserved + 501 WHERE account_id = '{account}'; COMMIT;",
            asApp: true));

        refused.SqlState.ShouldBe(PostgresErrorCodes.CheckViolation);
    }

    [Theory]
    [InlineData("UPDATE ledger_entries SET amount = amount + 1")]
    [InlineData("DELETE FROM ledger_entries")]
    [InlineData("UPDATE usage_events SET amount_micro = 0")]
    [InlineData("DELETE FROM usage_events")]
    [InlineData("UPDATE credit_lots SET original = original + 1")]
    [InlineData("UPDATE credit_reversals SET amount = amount + 1")]
    [InlineData("DELETE FROM credit_reversals")]
    [InlineData("UPDATE credit_clawbacks SET debt_micro = 0")]
    [InlineData("DELETE FROM credit_clawbacks")]
    public async Task Database_AppRoleRewritesHistory_Refused(string statement)
    {
        var (_, account) = await app.FundedCommunityAsync(500);
        var hold = (await app.SendAsync(new ReserveCredits.Command(account, 50, "history"))).Value;
        await app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 10, new Usage(), "history-" + Guid.NewGuid()));

        var refused = await Should.ThrowAsync<PostgresException>(() => app.Database.ExecuteAsync(
            $"BEGIN; SELECT {TenantScope.Set("'*'")}; {statement}; COMMIT;", asApp: true));

        refused.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
    }

    [Theory]
    [InlineData("UPDATE ledger_entries SET amount = amount + 1")]
    [InlineData("DELETE FROM usage_events")]
    public async Task Database_EvenOwnerRewritesHistory_RefusedByTrigger(string statement)
    {
        var (_, account) = await app.FundedCommunityAsync(500);
        var hold = (await app.SendAsync(new ReserveCredits.Command(account, 50, "owner"))).Value;
        await app.SendAsync(new FinalizeReservation.Command(account, hold.ReservationId, 10, new Usage(), "owner-" + Guid.NewGuid()));

        var refused = await Should.ThrowAsync<PostgresException>(() => app.Database.ExecuteAsync(statement));

        refused.MessageText.ShouldContain("append-only");
    }

    [Fact]
    public async Task Database_SettledReservationChangedAgain_Refused()
    {
        var (_, account) = await app.FundedCommunityAsync(500);
        var hold = (await app.SendAsync(new ReserveCredits.Command(account, 50, "terminal"))).Value;
        await app.SendAsync(new ReleaseReservation.Command(account, hold.ReservationId, "done"));

        var refused = await Should.ThrowAsync<PostgresException>(() => app.Database.ExecuteAsync(
            $"UPDATE credit_reservations SET status = 'pending', settled_at = NULL WHERE id = '{hold.ReservationId}'"));

        refused.MessageText.ShouldContain("C3");
    }

    [Fact]
    public async Task RowLevelSecurity_AnotherCommunity_SeesNoneOfTheLedger()
    {
        var (_, account) = await app.FundedCommunityAsync(500);
        var (slug, _) = await app.FundedCommunityAsync(10);
        var other = await app.Database.ScalarAsync<Guid>("SELECT id FROM communities WHERE slug = @s", ("s", slug));

        await using var connection = new NpgsqlConnection(app.Database.AppConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using var command = new NpgsqlCommand(
            $"SELECT {TenantScope.Set($"'{other}'")}; SELECT count(*) FROM credit_lots WHERE account_id = '{account}'", connection, transaction);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.NextResultAsync();
        await reader.ReadAsync();

        reader.GetInt64(0).ShouldBe(0);
    }
}
