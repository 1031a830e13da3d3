using System.Diagnostics;
using Freeside.Features.Ledger;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Ledger;

public sealed class ReleaseOrphanedHoldsTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Sweep_HoldOlderThanLimit_ExpiredWithReasonAndFundsBack()
    {
        var (_, account) = await app.FundedCommunityAsync(1000);
        var old = (await app.SendAsync(new ReserveCredits.Command(account, 300, "lost-stream"))).Value;
        await app.Database.ExecuteAsync($"UPDATE credit_reservations SET created_at = now() - interval '6 minutes' WHERE id = '{old.ReservationId}'");
        var fresh = (await app.SendAsync(new ReserveCredits.Command(account, 100, "in-flight"))).Value;

        var sweep = await app.SendAsync(new ReleaseOrphanedHolds.Command());

        sweep.Value.Ran.ShouldBeTrue();
        sweep.Value.ReservationIds.ShouldContain(old.ReservationId);
        sweep.Value.ReservationIds.ShouldNotContain(fresh.ReservationId);
        (await app.Database.ScalarAsync<string>("SELECT status || ': ' || settle_reason FROM credit_reservations WHERE id = @r", ("r", old.ReservationId)))
            .ShouldStartWith("expired: orphaned: pending for 36");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM ledger_entries WHERE reservation_id = @r AND kind = 'expire_hold'", ("r", old.ReservationId))).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(900);
        sweep.Value.OldestPendingAgeSeconds.ShouldBeLessThan(60);
        app.ScrapeMetrics().ShouldContain("ledger_oldest_pending_hold_age_seconds");
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Sweep_WhileAnotherReplicaSweeps_SkipsWithoutTouchingAnything()
    {
        await using var other = new Npgsql.NpgsqlConnection(app.Database.OwnerConnectionString);
        await other.OpenAsync();
        await using var transaction = await other.BeginTransactionAsync();
        await using (var hold = new Npgsql.NpgsqlCommand($"SELECT pg_advisory_xact_lock({0x4C45_4447_0001L})", other, transaction))
        {
            await hold.ExecuteNonQueryAsync();
        }

        var sweep = await app.SendAsync(new ReleaseOrphanedHolds.Command(OlderThanSeconds: 0));

        sweep.Value.Ran.ShouldBeFalse();
    }

    [Fact]
    public async Task Crash_HostKilledMidBurstTwice_SweepLeavesNoPendingHoldAndC1ToC5Hold()
    {
        var (_, account) = await app.FundedCommunityAsync(100_000_000);

        for (var crash = 0; crash < 2; crash++)
        {
            using var child = StartBurst(account);
            var running = await WaitForLineAsync(child, "burst-running", TimeSpan.FromSeconds(90));
            running.ShouldBeTrue("the burst child never got going");
            await Task.Delay(300);
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync();
        }

        (await app.PendingHeldAsync(account)).ShouldBeGreaterThan(0);

        var sweep = await app.SendAsync(new ReleaseOrphanedHolds.Command(OlderThanSeconds: 0));

        sweep.IsSuccess.ShouldBeTrue(sweep.Error?.Detail);
        sweep.Value.Released.ShouldBeGreaterThan(0);
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_reservations WHERE account_id = @a AND status = 'pending'", account)).ShouldBe(0);
        (await app.ScalarLongAsync("SELECT coalesce(sum(reserved), 0) FROM credit_lots WHERE account_id = @a", account)).ShouldBe(0);
        await app.ShouldAuditCleanAsync();
    }

    private Process StartBurst(Guid account)
    {
        var configuration = AppContext.BaseDirectory.Contains("/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
        var dll = Path.Combine(TestEnvironment.RepositoryRoot, "bench", "Freeside.Bench", "bin", configuration, "net10.0", "Freeside.Bench.dll");
        File.Exists(dll).ShouldBeTrue($"{dll} is missing; build the solution (./build.sh test does)");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { dll, "ledger-burst", app.Database.AppConnectionString, app.Database.OwnerConnectionString, account.ToString() })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task<bool> WaitForLineAsync(Process process, string line, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            while (await process.StandardOutput.ReadLineAsync(cancel.Token) is { } read)
            {
                if (read.Contains(line, StringComparison.Ordinal))
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        return false;
    }
}
