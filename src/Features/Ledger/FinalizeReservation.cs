using FluentValidation;
using Freeside.Features.Common;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using MediatR;
using Npgsql;

namespace Freeside.Features.Ledger;

/// <summary>
/// Posts the actual cost of a reserved call and releases the rest, once: a second finalize returns
/// the first result; a charge above the hold is clamped to it (and counted) because the hold is what
/// the caller agreed to risk. Writes the usage event in the same transaction.
/// </summary>
public static class FinalizeReservation
{
    public sealed record Command(Guid AccountId, Guid ReservationId, long ChargedMicro, Usage Usage, string FinalizationId)
        : ICommand<FinalizationView>, IMovesCredits, ILedgerOperation
    {
        public Guid RoutingAccountId => AccountId;
    }

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.AccountId).NotEmpty();
            RuleFor(c => c.ReservationId).NotEmpty();
            RuleFor(c => c.ChargedMicro).InclusiveBetween(0, LedgerLimits.MaxAmountMicro);
            RuleFor(c => c.FinalizationId).NotEmpty().MaximumLength(200);
            RuleFor(c => c.Usage).NotNull();
            RuleFor(c => c.Usage.TokensInput).GreaterThanOrEqualTo(0).When(c => c.Usage is not null);
            RuleFor(c => c.Usage.TokensOutput).GreaterThanOrEqualTo(0).When(c => c.Usage is not null);
            RuleFor(c => c.Usage.NftId).MaximumLength(200).When(c => c.Usage is not null);
            RuleFor(c => c.Usage.PoolId).MaximumLength(200).When(c => c.Usage is not null);
            RuleFor(c => c.Usage.BillingMethod).Must(m => m is "reported" or "observed_chunks").When(c => c.Usage is not null)
                .WithMessage("billing_method must be reported or observed_chunks.");
            RuleFor(c => c.Usage.AccountingMode).Must(m => m is "standard" or "byok" or "sandbox").When(c => c.Usage is not null)
                .WithMessage("accounting_mode must be standard, byok or sandbox.");
        }
    }

    internal sealed class Handler(LedgerStore store, LedgerMetrics metrics) : IRequestHandler<Command, Result<FinalizationView>>
    {
        public async Task<Result<FinalizationView>> Handle(Command request, CancellationToken cancellationToken)
        {
            try
            {
                await store.LoadAsync(LedgerScope.OfAccounts(request.AccountId), [], [request.ReservationId], cancellationToken);
                var result = Decide(store, metrics, request);
                await store.SaveAsync(cancellationToken);
                return (Result<FinalizationView>)(await WithAvailableAsync(store, [result], cancellationToken))[0];
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation
                && e.ConstraintName is "ux_credit_reservations_finalization" or "ux_usage_events_finalization")
            {
                return new FinalizationIdReused(request.FinalizationId);
            }
        }
    }

    /// <summary>
    /// Each successful finalization with what its account can spend after the unit's writes, so that a caller
    /// showing the balance (a chat's <c>end</c> event) needs no transaction of its own.
    /// </summary>
    internal static async Task<IResultOutcome[]> WithAvailableAsync(LedgerStore store, IResultOutcome[] outcomes, CancellationToken cancellationToken)
    {
        var finalized = outcomes.OfType<Result<FinalizationView>>().Where(r => r.IsSuccess).Select(r => r.Value.AccountId).Distinct().ToList();
        if (finalized.Count == 0)
        {
            return outcomes;
        }

        // Read by the flush for the reservations it finalized; a replayed finalization wrote nothing, so it asks.
        var missing = finalized.Where(a => !store.AvailableAfterSave.ContainsKey(a)).ToList();
        var available = missing.Count == 0
            ? store.AvailableAfterSave
            : new Dictionary<Guid, long>(store.AvailableAfterSave.Concat(await store.AvailableAsync(missing, cancellationToken)));
        return [.. outcomes.Select(o => o is Result<FinalizationView> { IsSuccess: true } r
            ? Result<FinalizationView>.Success(r.Value with { AvailableMicro = available[r.Value.AccountId] })
            : o)];
    }

    /// <summary>Decides one finalize against the loaded rows (also for <see cref="ApplyLedgerBatch"/>).</summary>
    internal static Result<FinalizationView> Decide(LedgerStore store, LedgerMetrics metrics, Command request)
    {
        if (store.Reservation(request.ReservationId, request.AccountId) is not { } reservation)
        {
            return new NotFound("reservation", request.ReservationId.ToString());
        }

        var result = reservation.Finalize(Money.FromMicro(request.ChargedMicro), request.FinalizationId, request.Usage, store.Lots);
        if (result is { IsSuccess: true, Value: { Clamped: true, Replayed: false } })
        {
            metrics.ChargeClamped();
        }

        return result;
    }
}
