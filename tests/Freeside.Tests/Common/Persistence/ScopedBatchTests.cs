using Freeside.Features.Common.Persistence;
using Freeside.Tests.Infrastructure;
using Npgsql;

namespace Freeside.Tests.Common.Persistence;

/// <summary>
/// The one-round-trip scoped batch the chat path uses: the scope holds for the statements after it, as
/// the least-privilege role, and the batch is one transaction, so a failing statement undoes the ones before.
/// </summary>
public sealed class ScopedBatchTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task ScopedBatch_WritesAndReadsOnlyInItsCommunity()
    {
        var (a, b) = (await CommunityAsync(), await CommunityAsync());
        await using var connection = new NpgsqlConnection(app.Database.AppConnectionString);
        await connection.OpenAsync();

        await using (var write = ScopedBatch.Create(connection, a))
        {
            write.BatchCommands.Add(InsertBudget(a));
            await write.ExecuteNonQueryAsync();
        }

        (await CountBudgetsAsync(connection, a, a)).ShouldBe(1L);
        (await CountBudgetsAsync(connection, a, b)).ShouldBe(0L);
        // Outside the scope the row is not visible at all, and a write to another community is refused.
        (await CountBudgetsAsync(connection, b, a)).ShouldBe(0L);
        await using var foreign = ScopedBatch.Create(connection, b);
        foreign.BatchCommands.Add(InsertBudget(a));
        (await Should.ThrowAsync<PostgresException>(() => foreign.ExecuteNonQueryAsync())).SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
    }

    [Fact]
    public async Task ScopedBatch_AFailingStatement_UndoesTheStatementsBeforeIt()
    {
        var community = await CommunityAsync();
        await using var connection = new NpgsqlConnection(app.Database.AppConnectionString);
        await connection.OpenAsync();

        await using (var batch = ScopedBatch.Create(connection, community))
        {
            batch.BatchCommands.Add(InsertBudget(community));
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT 1 / 0"));
            (await Should.ThrowAsync<PostgresException>(() => batch.ExecuteNonQueryAsync())).SqlState.ShouldBe(PostgresErrorCodes.DivisionByZero);
        }

        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM community_budgets WHERE community_id = @c", ("c", community))).ShouldBe(0L);
    }

    private async Task<Guid> CommunityAsync()
    {
        var id = Guid.NewGuid();
        await app.Database.ExecuteAsync("INSERT INTO communities (id, slug, name, chain_id, collection_address, default_access_level, created_at) VALUES "
            + $"('{id}', 'scoped-{id:N}', 'Scoped', 31337, '0x{new string('d', 40)}', 'free', now())");
        return id;
    }

    private static NpgsqlBatchCommand InsertBudget(Guid community)
    {
        var insert = new NpgsqlBatchCommand("INSERT INTO community_budgets (community_id, monthly_cap_micro, updated_at) VALUES (@c, 1000, now())");
        insert.Parameters.AddWithValue("c", community);
        return insert;
    }

    private static async Task<long> CountBudgetsAsync(NpgsqlConnection connection, Guid scope, Guid community)
    {
        await using var batch = ScopedBatch.Create(connection, scope);
        var count = new NpgsqlBatchCommand("SELECT count(*) FROM community_budgets WHERE community_id = @c");
        count.Parameters.AddWithValue("c", community);
        batch.BatchCommands.Add(count);
        await using var reader = await ScopedBatch.ReadAsync(batch, CancellationToken.None);
        await reader.ReadAsync();
        return reader.GetInt64(0);
    }
}
