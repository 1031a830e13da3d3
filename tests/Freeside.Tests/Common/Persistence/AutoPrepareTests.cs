using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freeside.Tests.Common.Persistence;

/// <summary>
/// The service's data source prepares a statement on a connection once it has been sent there twice, so PostgreSQL
/// stops parsing and analysing it on every execution (with 256 chats at once that was about a sixth of the machine's
/// CPU). Statements the code prepares itself (the ledger's) are unaffected; a statement sent once is not prepared.
/// </summary>
public sealed class AutoPrepareTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Statement_SentTwiceOnAConnection_IsPreparedThere()
    {
        var database = app.Services.GetRequiredService<NpgsqlDataSource>();
        // A text no other test sends, so the count below sees only this test's statement.
        var marker = "auto-prepare-" + Guid.NewGuid().ToString("N");
        await using var connection = await database.OpenConnectionAsync();
        for (var i = 0; i < 3; i++)
        {
            await using var command = new NpgsqlCommand($"SELECT @p || '{marker}'", connection);
            command.Parameters.AddWithValue("p", "x");
            (await command.ExecuteScalarAsync()).ShouldBe("x" + marker);
        }

        await using var once = new NpgsqlCommand($"SELECT 'once-{marker}'", connection);
        await once.ExecuteScalarAsync();

        await using var prepared = new NpgsqlCommand("SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%' || @m || '%'", connection);
        prepared.Parameters.AddWithValue("m", marker);
        var statements = new List<string>();
        await using (var reader = await prepared.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                statements.Add(reader.GetString(0));
            }
        }

        statements.ShouldHaveSingleItem().ShouldContain("|| '" + marker + "'");
    }
}
