using Npgsql;

namespace Freeside.Features.Common.Persistence;

/// <summary>
/// Row-level security is what keeps one community's rows from another's, and three kinds of role are not
/// held by it: a superuser, a role with BYPASSRLS, and the owner of the tables (or a role that can become
/// it), which could drop the policies. Outside Development the app refuses to serve as any of them.
/// </summary>
public static class DatabaseRoleGuard
{
    /// <summary>
    /// Why the role <paramref name="connectionString"/> logs in as must not serve, or null when it may, or
    /// when PostgreSQL cannot be reached now (the service starts degraded during an outage, as before).
    /// </summary>
    public static async Task<string?> RefusalAsync(string connectionString, CancellationToken cancellationToken)
    {
        var unpooled = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = "freeside-role-check" }.ConnectionString;
        await using var connection = new NpgsqlConnection(unpooled);
        try
        {
            await connection.OpenAsync(cancellationToken);
        }
        catch (NpgsqlException e) when (e is not PostgresException)
        {
            return null;
        }

        return await RefusalAsync(connection, cancellationToken);
    }

    public static async Task<string?> RefusalAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            SELECT r.rolname, r.rolsuper, r.rolbypassrls,
                   (SELECT string_agg(c.relname, ', ' ORDER BY c.relname)
                    FROM pg_class c
                    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'community_id' AND NOT a.attisdropped)
                      AND pg_has_role(r.oid, c.relowner, 'MEMBER'))
            FROM pg_roles r
            WHERE r.rolname = current_user
            """, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var role = reader.GetString(0);
        const string Fix = "connect as the least-privilege role freeside_app and migrate with DATABASE_MIGRATION_URL";
        if (reader.GetBoolean(1))
        {
            return $"DATABASE_URL: connects as '{role}', a superuser, which row-level security does not hold; {Fix}";
        }

        if (reader.GetBoolean(2))
        {
            return $"DATABASE_URL: connects as '{role}', which has BYPASSRLS; {Fix}";
        }

        return reader.IsDBNull(3)
            ? null
            : $"DATABASE_URL: connects as '{role}', which owns (or can become the owner of) the tenant tables {reader.GetString(3)}; {Fix}";
    }
}
