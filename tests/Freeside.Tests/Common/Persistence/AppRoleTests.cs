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
        var owner = await app.Database.ScalarAsync<string>("SELECT tableowner FROM pg_tables WHERE tablename = 'communities'");

        owner.ShouldNotBe(FreesideDb.AppRole);
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
