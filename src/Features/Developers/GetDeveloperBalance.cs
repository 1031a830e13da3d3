using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Ledger;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Developers;

/// <summary>
/// The caller's developer account in micro-USD: what its live keys can spend, what is held, spent,
/// expired and taken back by refunds, and the debt a refund left (credits already spent), which blocks
/// live calls until the next purchase repays it. All zero before the first top-up or grant.
/// </summary>
public static class GetDeveloperBalance
{
    public sealed record Query(EthereumAddress Wallet) : IQuery<View>;

    public sealed record View(long AvailableMicro, long ReservedMicro, long ConsumedMicro, long ExpiredMicro, long TakenBackMicro, long DebtMicro, long LotCount);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Wallet).NotNull();
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<View>>
    {
        public async Task<Result<View>> Handle(Query request, CancellationToken cancellationToken)
        {
            var developerId = DeveloperAccounts.IdOf(request.Wallet);
            var now = time.GetUtcNow();
            // A developer's account and lots have no community: only the platform scope sees them.
            return await db.Database.CreateExecutionStrategy().ExecuteAsync(async ct =>
            {
                await using var transaction = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
                await db.EnterPlatformScopeAsync(ct);
                var account = await db.Set<CreditAccount>().AsNoTracking()
                    .Where(a => a.Kind == "developer" && a.DeveloperId == developerId).Select(a => new { a.Id, a.DebtMicro }).SingleOrDefaultAsync(ct);
                if (account is null)
                {
                    return Result<View>.Success(new View(0, 0, 0, 0, 0, 0, 0));
                }

                var totals = await db.Set<CreditLot>().AsNoTracking().Where(l => l.AccountId == account.Id).TotalsAsync(now, ct);
                return Result<View>.Success(new View(totals.Spendable, totals.Reserved, totals.Consumed, totals.Expired, totals.TakenBack, account.DebtMicro, totals.Count));
            }, cancellationToken);
        }
    }
}
