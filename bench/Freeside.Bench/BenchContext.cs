using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Persistence;
using Npgsql;

namespace Freeside.Bench;

/// <summary>A freshly migrated database of the benchmark's own on the private cluster (build.sh sets FREESIDE_TEST_PG).</summary>
public sealed class BenchContext : IAsyncDisposable
{
    private readonly string _adminConnectionString;

    private BenchContext(string name, string adminConnectionString, string owner, string app)
    {
        DatabaseName = name;
        _adminConnectionString = adminConnectionString;
        OwnerConnectionString = owner;
        AppConnectionString = app;
    }

    public string DatabaseName { get; }

    public string OwnerConnectionString { get; }

    public string AppConnectionString { get; }

    public static async Task<BenchContext> CreateAsync(string benchmark)
    {
        var errors = new List<string>();
        var admin = FreesideSettings.ParsePostgres("FREESIDE_TEST_PG",
            Environment.GetEnvironmentVariable("FREESIDE_TEST_PG") ?? throw new InvalidOperationException("FREESIDE_TEST_PG is not set; use ./build.sh bench"),
            errors) ?? throw new InvalidOperationException(string.Join("; ", errors));
        var name = "bench_" + benchmark;
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE); CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        var owner = new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
        var app = new NpgsqlConnectionStringBuilder(admin) { Database = name, Username = FreesideDb.AppRole, MaxPoolSize = 200 }.ConnectionString;
        await DatabaseMigrator.MigrateAsync(owner, null, CancellationToken.None);
        return new BenchContext(name, admin, owner, app);
    }

    /// <summary>
    /// Has every table analyzed, as autovacuum keeps a running database's statistics current. A benchmark starts from
    /// empty tables, and the plans PostgreSQL makes for prepared statements while a table is believed empty (a
    /// sequential scan is cheapest over nothing) stay until the table's statistics change; autovacuum analyzes a
    /// database at most once a minute, so without this a short run measures those plans or not depending on when
    /// autovacuum happened to come by (api: 500 to 1,000 requests/s from the same code). Analyzing invalidates the
    /// plans, and the next execution of each statement plans it for the tables as they are.
    /// </summary>
    public async Task AnalyzeAsync()
    {
        await using var connection = new NpgsqlConnection(OwnerConnectionString);
        await connection.OpenAsync();
        await using var analyze = new NpgsqlCommand("ANALYZE", connection);
        await analyze.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (Environment.GetEnvironmentVariable("FREESIDE_BENCH_KEEP_DB") == "1")
        {
            return;
        }

        await using var connection = new NpgsqlConnection(_adminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{DatabaseName}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}
