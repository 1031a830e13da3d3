using Freeside.Features.Common.Persistence;
using Freeside.Tests.Infrastructure;
using Npgsql;

namespace Freeside.Tests.Common.Persistence;

public sealed class AppRoleTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task AppRole_IsNotSuperuserAndCannotBypassRls()
    {
        var flags = await app.Database.ScalarAsync<string>(
            "SELECT rolsuper::text || ',' || rolbypassrls::text || ',' || rolcreaterole::text FROM pg_roles WHERE rolname = @r", ("r", FreesideDb.AppRole));

        flags.ShouldBe("false,false,false");
    }

    [Fact]
    public async Task AppRole_CannotChangeTheSchema()
    {
        var error = await Should.ThrowAsync<PostgresException>(() => app.Database.ExecuteAsync("CREATE TABLE sneaky (id int)", asApp: true));

        error.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
    }

    [Fact]
    public async Task AppRole_DoesNotOwnTheTables()
    {
        var owners = (await app.Database.ScalarAsync<string>(
                "SELECT string_agg(tablename || '=' || tableowner, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'") ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('='))
            .ToDictionary(pair => pair[0], pair => pair[1]);

        // The migrations' tables must be there, or "no table is the app role's" would pass on nothing.
        string[] migrated =
        [
            "communities", "community_admins", "conservation_violations", "credit_accounts", "credit_lots", "credit_reservations",
            "credit_clawbacks", "credit_reversals", "jwks_keys", "ledger_entries", "revoked_sessions", "schema_migrations", "siwe_nonces", "usage_events",
        ];
        migrated.ShouldBeSubsetOf(owners.Keys);
        owners.Where(o => o.Value == FreesideDb.AppRole).Select(o => o.Key).ShouldBeEmpty();
    }

    [Fact]
    public async Task Migrate_RunTwice_IsANoOp()
    {
        var before = await app.Database.ScalarAsync<long>("SELECT count(*) FROM schema_migrations");

        await DatabaseMigrator.MigrateAsync(app.Database.OwnerConnectionString, null, CancellationToken.None);

        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM schema_migrations")).ShouldBe(before);
        before.ShouldBe(DatabaseMigrator.All().Count);
    }
}
