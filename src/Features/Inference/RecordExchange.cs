using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using MediatR;
using Npgsql;
using NpgsqlTypes;

namespace Freeside.Features.Inference;

/// <summary>
/// Stores one chat turn — the holder's message and what the agent delivered — in the community's scope.
/// Every chat ends with it, so it is one round trip: the scope and the rows in one batch, which PostgreSQL
/// runs as one implicit transaction (<see cref="ScopedBatch"/>), instead of the pipeline's BEGIN … COMMIT.
/// </summary>
public static class RecordExchange
{
    public sealed record Command(Guid CommunityId, IReadOnlyList<AgentMessage> Messages) : IRequest<Result<int>>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.CommunityId).NotEmpty();
            RuleFor(c => c.Messages).NotEmpty().Must((c, messages) => messages.All(m => m.CommunityId == c.CommunityId))
                .WithMessage("Every message must belong to the command's community.");
        }
    }

    internal sealed class Handler(NpgsqlDataSource database) : IRequestHandler<Command, Result<int>>
    {
        public async Task<Result<int>> Handle(Command request, CancellationToken cancellationToken)
        {
            await using var connection = await database.OpenConnectionAsync(cancellationToken);
            await using var batch = ScopedBatch.Create(connection, request.CommunityId);
            foreach (var message in request.Messages)
            {
                batch.BatchCommands.Add(Insert(message));
            }

            await batch.ExecuteNonQueryAsync(cancellationToken);
            return request.Messages.Count;
        }

        private static NpgsqlBatchCommand Insert(AgentMessage m)
        {
            var insert = new NpgsqlBatchCommand("""
                INSERT INTO agent_messages (id, conversation_id, nft_id, community_id, source, author_wallet, role, content,
                    tokens_input, tokens_output, pool_id, cost_micro, created_at)
                VALUES (@id, @conversation, @nft, @community, @source, @wallet, @role, @content, @input, @output, @pool, @cost, @created)
                """);
            insert.Parameters.AddWithValue("id", m.Id);
            insert.Parameters.AddWithValue("conversation", m.ConversationId);
            insert.Parameters.AddWithValue("nft", m.NftId);
            insert.Parameters.AddWithValue("community", m.CommunityId);
            insert.Parameters.AddWithValue("source", m.Source);
            insert.Parameters.AddWithValue("wallet", m.AuthorWallet);
            insert.Parameters.AddWithValue("role", m.Role);
            insert.Parameters.AddWithValue("content", m.Content);
            insert.Parameters.Add(new NpgsqlParameter("input", NpgsqlDbType.Integer) { Value = (object?)m.TokensInput ?? DBNull.Value });
            insert.Parameters.Add(new NpgsqlParameter("output", NpgsqlDbType.Integer) { Value = (object?)m.TokensOutput ?? DBNull.Value });
            insert.Parameters.Add(new NpgsqlParameter("pool", NpgsqlDbType.Text) { Value = (object?)m.PoolId ?? DBNull.Value });
            insert.Parameters.Add(new NpgsqlParameter("cost", NpgsqlDbType.Bigint) { Value = (object?)m.CostMicro ?? DBNull.Value });
            insert.Parameters.AddWithValue("created", m.CreatedAt);
            return insert;
        }
    }
}
