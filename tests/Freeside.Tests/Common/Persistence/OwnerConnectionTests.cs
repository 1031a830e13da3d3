using Freeside.Tests.Infrastructure;
using Npgsql;

namespace Freeside.Tests.Common.Persistence;

/// <summary>A class of its own: nothing else may have opened an owner connection to this database.</summary>
public sealed class OwnerConnectionTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task DevelopmentStart_AfterMigrating_KeepsNoOwnerConnection()
    {
        await using var connection = new NpgsqlConnection(app.Database.AppConnectionString);
        await connection.OpenAsync();
        await using var others = new NpgsqlCommand(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename <> current_user", connection);

        // The host migrated this database as the owner when it started; that connection must be gone.
        ((long)(await others.ExecuteScalarAsync())!).ShouldBe(0);
    }
}
