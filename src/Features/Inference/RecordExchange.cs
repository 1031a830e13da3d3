using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using MediatR;
using Npgsql;
using NpgsqlTypes;

namespace Freeside.Features.Inference;

/// <summary>
/// Stores one chat turn — the holder's message and what the agent delivered — in the community's scope.
/// Every chat ends with it, so it is one round trip: the scope and the rows (one INSERT) in one batch, which
/// PostgreSQL runs as one implicit transaction (<see cref="ScopedBatch"/>), instead of the pipeline's BEGIN … COMMIT.
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
            batch.BatchCommands.Add(Insert(request.Messages));
            await batch.ExecuteNonQueryAsync(cancellationToken);
            return request.Messages.Count;
        }

        /// <summary>The turn's rows in one statement (a turn is the holder's message and the agent's answer).</summary>
        private static NpgsqlBatchCommand Insert(IReadOnlyList<AgentMessage> messages)
        {
            var insert = new NpgsqlBatchCommand("""
                INSERT INTO agent_messages (id, conversation_id, nft_id, community_id, source, author_wallet, role, content,
                    tokens_input, tokens_output, pool_id, cost_micro, created_at)
                VALUES
                """ + string.Join(",", messages.Select((_, i) =>
                    $" (@id{i}, @conversation{i}, @nft{i}, @community{i}, @source{i}, @wallet{i}, @role{i}, @content{i}, @input{i}, @output{i}, @pool{i}, @cost{i}, @created{i})")));
            for (var i = 0; i < messages.Count; i++)
            {
                var m = messages[i];
                insert.Parameters.AddWithValue("id" + i, m.Id);
                insert.Parameters.AddWithValue("conversation" + i, m.ConversationId);
                insert.Parameters.AddWithValue("nft" + i, m.NftId);
                insert.Parameters.AddWithValue("community" + i, m.CommunityId);
                insert.Parameters.AddWithValue("source" + i, m.Source);
                insert.Parameters.AddWithValue("wallet" + i, m.AuthorWallet);
                insert.Parameters.AddWithValue("role" + i, m.Role);
                insert.Parameters.AddWithValue("content" + i, m.Content);
                insert.Parameters.Add(new NpgsqlParameter("input" + i, NpgsqlDbType.Integer) { Value = (object?)m.TokensInput ?? DBNull.Value });
                insert.Parameters.Add(new NpgsqlParameter("output" + i, NpgsqlDbType.Integer) { Value = (object?)m.TokensOutput ?? DBNull.Value });
                insert.Parameters.Add(new NpgsqlParameter("pool" + i, NpgsqlDbType.Text) { Value = (object?)m.PoolId ?? DBNull.Value });
                insert.Parameters.Add(new NpgsqlParameter("cost" + i, NpgsqlDbType.Bigint) { Value = (object?)m.CostMicro ?? DBNull.Value });
                insert.Parameters.AddWithValue("created" + i, m.CreatedAt);
            }

            return insert;
        }
    }
}
