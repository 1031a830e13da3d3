using FluentValidation;
using Freeside.Features.Common;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
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
            RuleFor(c => c.Usage.AccountingMode).Must(m => m is "standard" or "byok").When(c => c.Usage is not null)
                .WithMessage("accounting_mode must be standard or byok.");
        }
    }

    internal sealed class Handler(FreesideDb db, TouchedAccounts touched, LedgerTouches touches, TimeProvider time, LedgerMetrics metrics)
        : IRequestHandler<Command, Result<FinalizationView>>
    {
        public async Task<Result<FinalizationView>> Handle(Command request, CancellationToken cancellationToken)
        {
            var book = new LedgerBook(db, touched, touches, time);
            try
            {
                await book.LoadAsync([], [request.ReservationId], cancellationToken);
                var result = book.Finalize(
                    new FinalizeRequest(request.AccountId, request.ReservationId, Money.FromMicro(request.ChargedMicro), request.Usage, request.FinalizationId),
                    metrics);
                await book.FlushAsync(cancellationToken);
                return result;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation
                && e.ConstraintName is "ux_credit_reservations_finalization" or "ux_usage_events_finalization")
            {
                return new FinalizationIdReused(request.FinalizationId);
            }
        }
    }
}
