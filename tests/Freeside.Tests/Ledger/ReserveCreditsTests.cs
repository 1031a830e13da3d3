using Freeside.Features.Common.Errors;
using Freeside.Features.Ledger;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Ledger;

public sealed class ReserveCreditsTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Reserve_SpansLots_TakesEarliestExpiryFirstThenOldest()
    {
        var (slug, account) = await app.FundedCommunityAsync(300);
        var soon = await app.GrantAsync(slug, 200, DateTimeOffset.UtcNow.AddDays(1));
        var later = await app.GrantAsync(slug, 200, DateTimeOffset.UtcNow.AddDays(30));

        var result = await app.SendAsync(new ReserveCredits.Command(account, 450, "k1"));

        result.IsSuccess.ShouldBeTrue(result.Error?.Detail);
        (await app.Database.ScalarAsync<long>("SELECT reserved FROM credit_lots WHERE id = @id", ("id", soon.LotId))).ShouldBe(200);
        (await app.Database.ScalarAsync<long>("SELECT reserved FROM credit_lots WHERE id = @id", ("id", later.LotId))).ShouldBe(200);
        (await app.Database.ScalarAsync<long>("SELECT reserved FROM credit_lots WHERE account_id = @a AND expires_at IS NULL", ("a", account))).ShouldBe(50);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM ledger_entries WHERE reservation_id = @r AND kind = 'hold'", ("r", result.Value.ReservationId))).ShouldBe(3);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Reserve_MoreThanAvailable_IsInsufficientAndWritesNothing()
    {
        var (_, account) = await app.FundedCommunityAsync(100);

        var result = await app.SendAsync(new ReserveCredits.Command(account, 101, "too-much"));

        var error = result.Error.ShouldBeOfType<InsufficientCredits>();
        error.AvailableMicro.ShouldBe(100);
        ProblemMapping.StatusFor(error.Kind).ShouldBe(402);
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_reservations WHERE account_id = @a", account)).ShouldBe(0);
        (await app.AvailableAsync(account)).ShouldBe(100);
    }

    [Fact]
    public async Task Reserve_SameKeySameAmount_ReturnsTheSameReservation()
    {
        var (_, account) = await app.FundedCommunityAsync(100);

        var first = await app.SendAsync(new ReserveCredits.Command(account, 40, "same"));
        var second = await app.SendAsync(new ReserveCredits.Command(account, 40, "same"));

        second.Value.ReservationId.ShouldBe(first.Value.ReservationId);
        second.Value.Replayed.ShouldBeTrue();
        (await app.PendingHeldAsync(account)).ShouldBe(40);
    }

    [Fact]
    public async Task Reserve_SameKeyDifferentAmount_IsConflict()
    {
        var (_, account) = await app.FundedCommunityAsync(100);
        await app.SendAsync(new ReserveCredits.Command(account, 40, "dup"));

        var second = await app.SendAsync(new ReserveCredits.Command(account, 41, "dup"));

        ProblemMapping.StatusFor(second.Error.ShouldBeOfType<IdempotencyKeyReused>().Kind).ShouldBe(409);
        (await app.PendingHeldAsync(account)).ShouldBe(40);
    }

    [Fact]
    public async Task Reserve_ZeroAmount_HoldsNothingAndFinalizesToZero()
    {
        var (_, account) = await app.FundedCommunityAsync(0);

        var hold = await app.SendAsync(new ReserveCredits.Command(account, 0, "byok"));
        var done = await app.SendAsync(new FinalizeReservation.Command(account, hold.Value.ReservationId, 0, new Usage(AccountingMode: "byok"), "byok-fin"));

        done.IsSuccess.ShouldBeTrue(done.Error?.Detail);
        done.Value.ChargedMicro.ShouldBe(0);
        (await app.ScalarLongAsync("SELECT count(*) FROM usage_events WHERE account_id = @a AND accounting_mode = 'byok'", account)).ShouldBe(1);
    }

    [Fact]
    public async Task Reserve_UnknownAccount_IsNotFound()
    {
        var result = await app.SendAsync(new ReserveCredits.Command(Guid.NewGuid(), 1, "nobody"));

        result.Error.ShouldBeOfType<NotFound>();
    }

    [Fact]
    public async Task Reserve_64WorkersRaceFor1000Units_ExactlyThousandSucceed()
    {
        var (_, account) = await app.FundedCommunityAsync(1000);
        var succeeded = 0;
        var refused = 0;

        await Task.WhenAll(Enumerable.Range(0, 64).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                var result = await app.SendAsync(new ReserveCredits.Command(account, 1, $"race-{worker}-{i}"));
                if (result.IsSuccess)
                {
                    Interlocked.Increment(ref succeeded);
                }
                else
                {
                    result.Error.ShouldBeOfType<InsufficientCredits>();
                    Interlocked.Increment(ref refused);
                }
            }
        })));

        succeeded.ShouldBe(1000);
        refused.ShouldBe(64 * 200 - 1000);
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_lots WHERE account_id = @a AND (available < 0 OR reserved < 0)", account)).ShouldBe(0);
        (await app.AvailableAsync(account)).ShouldBe(0);
        (await app.PendingHeldAsync(account)).ShouldBe(1000);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Reserve_SameKeyStormOf100_MakesOneHold()
    {
        var (_, account) = await app.FundedCommunityAsync(10_000);

        var results = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => Task.Run(() => app.SendAsync(new ReserveCredits.Command(account, 7, "storm")))));

        results.ShouldAllBe(r => r.IsSuccess);
        results.Select(r => r.Value.ReservationId).Distinct().Count().ShouldBe(1);
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_reservations WHERE account_id = @a", account)).ShouldBe(1);
        (await app.PendingHeldAsync(account)).ShouldBe(7);
        (await app.AvailableAsync(account)).ShouldBe(10_000 - 7);
    }
}
