using FluentValidation;
using Freeside.Features.Common.Errors;
using MediatR;
using Npgsql;

namespace Freeside.Features.Developers;

/// <summary>
/// Stores one settled API call for the developer's usage report. One INSERT, which commits by itself: not an
/// <c>ICommand</c>, because a unit of work of BEGIN, INSERT and COMMIT per call tripled the round trips on the
/// API's hot path for nothing (the money moved already, in the ledger's own transaction).
/// </summary>
public static class RecordApiCall
{
    public sealed record Command(ApiCall Call) : IRequest<Result<Guid>>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Call.AmountMicro).GreaterThanOrEqualTo(0);
            RuleFor(c => c.Call.AmountMicro).Equal(0).When(c => c.Call.BillingMode == "sandbox").WithMessage("A sandbox call is never charged.");
            RuleFor(c => c.Call.Model).NotEmpty().MaximumLength(200);
        }
    }

    internal sealed class Handler(NpgsqlDataSource database) : IRequestHandler<Command, Result<Guid>>
    {
        public async Task<Result<Guid>> Handle(Command request, CancellationToken cancellationToken)
        {
            var call = request.Call;
            await using var command = database.CreateCommand("""
                INSERT INTO api_calls (id, developer_id, key_id, mode, model, pool_id, reservation_id, tokens_input, tokens_output, amount_micro,
                    billing_mode, completed, created_at)
                VALUES (@id, @developer, @key, @mode, @model, @pool, @reservation, @input, @output, @amount, @billing, @completed, @created)
                """);
            command.Parameters.AddWithValue("id", call.Id);
            command.Parameters.AddWithValue("developer", call.DeveloperId);
            command.Parameters.AddWithValue("key", call.KeyId);
            command.Parameters.AddWithValue("mode", call.Mode);
            command.Parameters.AddWithValue("model", call.Model);
            command.Parameters.AddWithValue("pool", call.PoolId);
            command.Parameters.AddWithValue("reservation", call.ReservationId);
            command.Parameters.AddWithValue("input", call.TokensInput);
            command.Parameters.AddWithValue("output", call.TokensOutput);
            command.Parameters.AddWithValue("amount", call.AmountMicro);
            command.Parameters.AddWithValue("billing", call.BillingMode);
            command.Parameters.AddWithValue("completed", call.Completed);
            command.Parameters.AddWithValue("created", call.CreatedAt);
            await command.ExecuteNonQueryAsync(cancellationToken);
            return call.Id;
        }
    }
}
