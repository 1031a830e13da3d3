using Freeside.Features.Ledger;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Ledger;

public sealed class LedgerBatcherTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Batcher_ConcurrentPairsOnHotAccount_EachCallerGetsItsOwnResult()
    {
        var (_, account) = await app.FundedCommunityAsync(50_000);
        var batcher = app.Services.GetRequiredService<LedgerBatcher>();
        var refused = 0;

        await Task.WhenAll(Enumerable.Range(0, 64).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; i < 10; i++)
            {
                var hold = await batcher.ReserveAsync(new ReserveCredits.Command(account, 100, $"b-{worker}-{i}"));
                if (!hold.IsSuccess)
                {
                    hold.Error.ShouldBeOfType<InsufficientCredits>();
                    Interlocked.Increment(ref refused);
                    continue;
                }

                var done = await batcher.FinalizeAsync(new FinalizeReservation.Command(account, hold.Value.ReservationId, 100, new Usage(), $"bf-{worker}-{i}"));
                done.IsSuccess.ShouldBeTrue(done.Error?.Detail);
            }
        })));

        // 640 attempts of 100 against 50,000: exactly 500 can be charged, whatever the batching.
        (await app.ScalarLongAsync("SELECT count(*) FROM usage_events WHERE account_id = @a", account)).ShouldBe(500);
        refused.ShouldBe(140);
        (await app.AvailableAsync(account)).ShouldBe(0);
        (await app.ScalarLongAsync("SELECT max(amount) FROM ledger_entries WHERE account_id = @a AND kind = 'hold'", account)).ShouldBe(100);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Finalize_AloneAndBatched_ReportsWhatTheAccountCanSpendAfterIt()
    {
        var (_, account) = await app.FundedCommunityAsync(10_000);
        var batcher = app.Services.GetRequiredService<LedgerBatcher>();
        var holds = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => batcher.ReserveAsync(new ReserveCredits.Command(account, 1_000, $"avail-{i}"))));
        holds.ShouldAllBe(h => h.IsSuccess);

        // The first alone: its view shows the 8,000 still held as not spendable and the 600 it released as spendable.
        var alone = await app.SendAsync(new FinalizeReservation.Command(account, holds[0].Value.ReservationId, 400, new Usage(), "avail-f-0"));
        alone.Value.AvailableMicro.ShouldBe(2_000 + 600);
        (await app.AvailableAsync(account)).ShouldBe(2_600);

        // The rest at once, batched or not: each view shows a balance some prefix of them left, and the last one what is left.
        var settled = await Task.WhenAll(holds.Skip(1).Select((h, i) =>
            batcher.FinalizeAsync(new FinalizeReservation.Command(account, h.Value.ReservationId, 400, new Usage(), $"avail-f-{i + 1}"))));
        settled.ShouldAllBe(f => f.IsSuccess);
        settled.Select(f => f.Value.AvailableMicro!.Value).ShouldAllBe(a => a >= 3_200 && a <= 6_800 && (a - 2_600) % 600 == 0);
        settled.Max(f => f.Value.AvailableMicro).ShouldBe(10_000 - 8 * 400);
        (await app.AvailableAsync(account)).ShouldBe(10_000 - 8 * 400);
    }

    [Fact]
    public async Task Batcher_DuplicateKeysInFlight_ResolveToOneReservation()
    {
        var (_, account) = await app.FundedCommunityAsync(1000);
        var batcher = app.Services.GetRequiredService<LedgerBatcher>();

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => batcher.ReserveAsync(new ReserveCredits.Command(account, 10, "same-key"))));

        results.ShouldAllBe(r => r.IsSuccess);
        results.Select(r => r.Value.ReservationId).Distinct().Count().ShouldBe(1);
        (await app.PendingHeldAsync(account)).ShouldBe(10);
    }
}
