using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using MediatR;

namespace Freeside.Features.Ledger;

/// <summary>Books what is left on lots past their expiry as expired (reserve already skips them). One replica at a time.</summary>
public static class ExpireLots
{
    private const long SweepLock = 0x4C45_4447_0002;

    public sealed record Command(int Limit = 1000) : ICommand<int>, IMovesCredits;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Limit).InclusiveBetween(1, 10_000);
    }

    internal sealed class Handler(LedgerStore store, LedgerMetrics metrics) : IRequestHandler<Command, Result<int>>
    {
        public async Task<Result<int>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (!await store.TryStartSweepAsync(SweepLock, cancellationToken))
            {
                return 0;
            }

            var lots = await store.LoadExpiredLotsAsync(request.Limit, cancellationToken);
            var expired = lots.Count(lot => lot.Expire(store.Now).IsPositive);
            await store.SaveAsync(cancellationToken);
            metrics.LotsExpired(expired);
            return expired;
        }
    }
}
