using Freeside.Features.Admin;
using Freeside.Features.Common.Errors;
using Freeside.Features.Identity.Roles;
using Freeside.Features.Ledger;
using Freeside.Tests.Infrastructure;
using Freeside.Tests.Ledger;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Admin;

internal static class AdminTestKit
{
    public const string Nft = "eip155:1/0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/7";

    public sealed record TestCommunity(string Slug, Guid Id, Guid Account);

    public static async Task<TestCommunity> CommunityAsync(this FreesideApp app, long funded, string? admin = null)
    {
        var (slug, account) = await app.FundedCommunityAsync(funded);
        if (admin is not null)
        {
            (await app.SendAsync(new AddCommunityAdmin.Command(slug, admin))).IsSuccess.ShouldBeTrue();
        }

        return new TestCommunity(slug, await app.Database.ScalarAsync<Guid>("SELECT id FROM communities WHERE slug = @s", ("s", slug)), account);
    }

    /// <summary>A reservation the way chat makes one: through the budget guard, for a wallet (lower-case hex).</summary>
    public static Task<Result<ReservationView>> ReserveForWalletAsync(this FreesideApp app, TestCommunity community, string wallet, long held)
    {
        var guard = app.Services.GetRequiredService<BudgetGuard>();
        var batcher = app.Services.GetRequiredService<LedgerBatcher>();
        var key = "chat:" + Guid.NewGuid().ToString("N");
        return guard.ReserveAsync(community.Id, wallet, held,
            () => batcher.ReserveAsync(new ReserveCredits.Command(community.Account, held, key, Nft)), h => h.ReservationId, CancellationToken.None);
    }

    /// <summary>A chat that held <paramref name="held"/> and was charged <paramref name="charged"/> on <paramref name="pool"/>.</summary>
    public static async Task<Guid> ChatSpendAsync(this FreesideApp app, TestCommunity community, string wallet, long held, long charged, string pool = "cheap")
    {
        var hold = await app.ReserveForWalletAsync(community, wallet, held);
        hold.IsSuccess.ShouldBeTrue(hold.Error?.Detail);
        var batcher = app.Services.GetRequiredService<LedgerBatcher>();
        var done = await batcher.FinalizeAsync(new FinalizeReservation.Command(community.Account, hold.Value.ReservationId, charged,
            new Usage(Nft, pool, 10, 20), "fin-" + Guid.NewGuid().ToString("N")));
        done.IsSuccess.ShouldBeTrue(done.Error?.Detail);
        return hold.Value.ReservationId;
    }
}
