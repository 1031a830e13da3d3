using FluentValidation;
using Freeside.Features.Common;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Ledger;
using Freeside.Features.Ledger.Domain;
using MediatR;

namespace Freeside.Tests.Ledger;

/// <summary>The store's clawback and repay without Payments' row lock in front: the ledger's own once-per-purchase guard.</summary>
public static class StorePurchase
{
    public sealed record Mint(Guid AccountId, Guid CommunityId, long CreditsMicro, string SourceRef) : ICommand<Guid>, IMovesCredits;

    public sealed record ClawBack(Guid AccountId, Guid LotId, long CreditsMicro, string SourceRef) : ICommand<bool>, IMovesCredits;

    public sealed class MintValidator : AbstractValidator<Mint>
    {
        public MintValidator() => RuleFor(c => c.SourceRef).NotEmpty();
    }

    public sealed class ClawBackValidator : AbstractValidator<ClawBack>
    {
        public ClawBackValidator() => RuleFor(c => c.SourceRef).NotEmpty();
    }

    internal sealed class MintHandler(FreesideDb db, LedgerStore store) : IRequestHandler<Mint, Result<Guid>>
    {
        public async Task<Result<Guid>> Handle(Mint request, CancellationToken cancellationToken)
        {
            await db.EnterCommunityAsync(request.CommunityId, cancellationToken);
            var lot = Lot.Mint(Guid.CreateVersion7(), request.AccountId, request.CommunityId, Money.FromMicro(request.CreditsMicro), null, store.Now, "test");
            var (minted, _) = await store.MintAsync(lot, "purchase", request.SourceRef, cancellationToken, repaysDebt: true);
            await store.SaveAsync(cancellationToken);
            return minted.Id;
        }
    }

    internal sealed class ClawBackHandler(FreesideDb db, LedgerStore store) : IRequestHandler<ClawBack, Result<bool>>
    {
        public async Task<Result<bool>> Handle(ClawBack request, CancellationToken cancellationToken)
        {
            await db.EnterPlatformScopeAsync(cancellationToken);
            var outcome = await store.ClawBackAsync(request.AccountId, request.LotId, request.SourceRef, Money.FromMicro(request.CreditsMicro), cancellationToken);
            return outcome is not null;
        }
    }
}

public sealed class LedgerStoreClawbackTests(GuardApp app) : IClassFixture<GuardApp>
{
    [Fact]
    public async Task ClawBack_TwentyConcurrentForOnePurchase_MovesOnce()
    {
        var (slug, account) = await app.FundedCommunityAsync(1_000);
        var community = await app.Database.ScalarAsync<Guid>("SELECT id FROM communities WHERE slug = @s", ("s", slug));
        var sourceRef = "test:" + Guid.NewGuid().ToString("N");
        var lot = (await app.SendAsync(new StorePurchase.Mint(account, community, 4_000, sourceRef))).Value;

        var moved = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            var result = await app.SendAsync(new StorePurchase.ClawBack(account, lot, 4_000, sourceRef));
            result.IsSuccess.ShouldBeTrue(result.Error?.Detail);
            return result.Value;
        })));

        moved.Count(m => m).ShouldBe(1);
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_clawbacks WHERE account_id = @a", account)).ShouldBe(1);
        (await app.ScalarLongAsync("SELECT count(*) FROM ledger_entries WHERE account_id = @a AND kind = 'clawback'", account)).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(1_000);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task ClawBack_PurchaseHeld_TakesOtherLotsThenDebt_RepayingPurchaseClearsIt()
    {
        var (slug, account) = await app.FundedCommunityAsync(0);
        var community = await app.Database.ScalarAsync<Guid>("SELECT id FROM communities WHERE slug = @s", ("s", slug));
        var sourceRef = "test:" + Guid.NewGuid().ToString("N");
        var lot = (await app.SendAsync(new StorePurchase.Mint(account, community, 4_000, sourceRef))).Value;
        var hold = await app.SendAsync(new ReserveCredits.Command(account, 3_000, "held-" + Guid.NewGuid()));
        hold.IsSuccess.ShouldBeTrue();
        await app.GrantAsync(slug, 500);

        (await app.SendAsync(new StorePurchase.ClawBack(account, lot, 4_000, sourceRef))).Value.ShouldBeTrue();

        // 1,000 left on the purchase and the 500 granted are taken; the 3,000 held stays held and is owed.
        (await app.AvailableAsync(account)).ShouldBe(0);
        (await app.PendingHeldAsync(account)).ShouldBe(3_000);
        (await app.ScalarLongAsync("SELECT debt_micro FROM credit_accounts WHERE id = @a", account)).ShouldBe(2_500);
        await app.ShouldAuditCleanAsync();

        // Releasing the hold makes its credits available again but repays nothing.
        (await app.SendAsync(new ReleaseReservation.Command(account, hold.Value.ReservationId, "done"))).IsSuccess.ShouldBeTrue();
        (await app.ScalarLongAsync("SELECT debt_micro FROM credit_accounts WHERE id = @a", account)).ShouldBe(2_500);
        (await app.SendAsync(new ReserveCredits.Command(account, 1, "blocked-" + Guid.NewGuid()))).Error.ShouldBeOfType<AccountInDebt>();

        await app.SendAsync(new StorePurchase.Mint(account, community, 2_000, "test:" + Guid.NewGuid().ToString("N")));
        (await app.ScalarLongAsync("SELECT debt_micro FROM credit_accounts WHERE id = @a", account)).ShouldBe(500);
        await app.SendAsync(new StorePurchase.Mint(account, community, 2_000, "test:" + Guid.NewGuid().ToString("N")));
        (await app.ScalarLongAsync("SELECT debt_micro FROM credit_accounts WHERE id = @a", account)).ShouldBe(0);
        (await app.SendAsync(new ReserveCredits.Command(account, 1, "free-" + Guid.NewGuid()))).IsSuccess.ShouldBeTrue();
        await app.ShouldAuditCleanAsync();
    }
}
