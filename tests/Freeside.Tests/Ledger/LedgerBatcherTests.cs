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
