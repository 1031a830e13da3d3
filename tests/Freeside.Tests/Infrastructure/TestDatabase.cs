using System.Security.Cryptography;
using System.Text;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Persistence;
using Npgsql;

namespace Freeside.Tests.Infrastructure;

/// <summary>
/// A fresh database per test class, copied from a template that was migrated once. The template's
/// name carries a hash of the migration ids, so a new migration makes a new template.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private static readonly SemaphoreSlim TemplateGate = new(1, 1);
    private static string? _template;

    private TestDatabase(string name, string ownerConnectionString, string appConnectionString)
    {
        Name = name;
        OwnerConnectionString = ownerConnectionString;
        AppConnectionString = appConnectionString;
    }

    public string Name { get; }

    /// <summary>As the owner (superuser on the private cluster): for set-up and for inspecting raw rows.</summary>
    public string OwnerConnectionString { get; }

    /// <summary>As freeside_app, the least-privilege role the service runs as.</summary>
    public string AppConnectionString { get; }

    public static async Task<TestDatabase> CreateAsync()
    {
        var template = await EnsureTemplateAsync();
        var name = "t_" + Guid.NewGuid().ToString("N")[..16];
        await using (var admin = await OpenAdminAsync())
        {
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"", admin);
            await create.ExecuteNonQueryAsync();
        }

        return new TestDatabase(name, ConnectionFor(name, owner: true), ConnectionFor(name, owner: false));
    }

    public async Task<T?> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (key, value) in parameters)
        {
            command.Parameters.AddWithValue(key, value);
        }

        var result = await command.ExecuteScalarAsync();
        return result is null or DBNull ? default : (T)Convert.ChangeType(result, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Every row of a query, mapped, as the owner.</summary>
    public async Task<List<T>> QueryAsync<T>(string sql, Func<NpgsqlDataReader, T> map, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (key, value) in parameters)
        {
            command.Parameters.AddWithValue(key, value);
        }

        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
        {
            rows.Add(map(reader));
        }

        return rows;
    }

    public async Task ExecuteAsync(string sql, bool asApp = false)
    {
        await using var connection = new NpgsqlConnection(asApp ? AppConnectionString : OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var admin = await OpenAdminAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }

    private static async Task<string> EnsureTemplateAsync()
    {
        await TemplateGate.WaitAsync();
        try
        {
            if (_template is not null)
            {
                return _template;
            }

            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(",", DatabaseMigrator.All()))))[..12];
            var template = "freeside_template_" + hash;
            await using var admin = await OpenAdminAsync();
            // Test projects run in parallel processes; one of them builds the template.
            await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_lock(727274)", admin))
            {
                await lockCommand.ExecuteNonQueryAsync();
            }

            try
            {
                await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @name", admin);
                exists.Parameters.AddWithValue("name", template);
                if (await exists.ExecuteScalarAsync() is null)
                {
                    var building = template + "_building";
                    await using (var create = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE); CREATE DATABASE \"{building}\"", admin))
                    {
                        await create.ExecuteNonQueryAsync();
                    }

                    await DatabaseMigrator.MigrateAsync(ConnectionFor(building, owner: true), null, CancellationToken.None);
                    NpgsqlConnection.ClearAllPools();
                    await using var rename = new NpgsqlCommand($"ALTER DATABASE \"{building}\" RENAME TO \"{template}\"", admin);
                    await rename.ExecuteNonQueryAsync();
                }
            }
            finally
            {
                await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(727274)", admin);
                await unlock.ExecuteNonQueryAsync();
            }

            _template = template;
            return template;
        }
        finally
        {
            TemplateGate.Release();
        }
    }

    private static async Task<NpgsqlConnection> OpenAdminAsync()
    {
        var connection = new NpgsqlConnection(AdminConnectionString());
        await connection.OpenAsync();
        return connection;
    }

    private static string AdminConnectionString()
    {
        var errors = new List<string>();
        return FreesideSettings.ParsePostgres("FREESIDE_TEST_PG", TestEnvironment.PostgresAdminUrl, errors)
            ?? throw new InvalidOperationException(string.Join("; ", errors));
    }

    private static string ConnectionFor(string database, bool owner)
    {
        var builder = new NpgsqlConnectionStringBuilder(AdminConnectionString())
        {
            Database = database,
            Pooling = true,
            MaxPoolSize = 100,
        };
        if (!owner)
        {
            builder.Username = FreesideDb.AppRole;
            builder.Password = null;
        }

        return builder.ConnectionString;
    }
}
