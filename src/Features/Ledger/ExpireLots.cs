using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
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

    internal sealed class Handler(FreesideDb db, TouchedAccounts touched, LedgerTouches touches, TimeProvider time, LedgerMetrics metrics)
        : IRequestHandler<Command, Result<int>>
    {
        public async Task<Result<int>> Handle(Command request, CancellationToken cancellationToken)
        {
            var book = new LedgerBook(db, touched, touches, time);
            await book.EnterAsync(cancellationToken);
            await using (var gate = book.Command("SELECT pg_try_advisory_xact_lock(@key)"))
            {
                gate.Parameters.AddWithValue("key", SweepLock);
                if (await gate.ExecuteScalarPreparedAsync(cancellationToken) is not true)
                {
                    return 0;
                }
            }

            var expired = await book.ExpireLotsAsync(request.Limit, cancellationToken);
            await book.FlushAsync(cancellationToken);
            metrics.LotsExpired(expired);
            return expired;
        }
    }
}
