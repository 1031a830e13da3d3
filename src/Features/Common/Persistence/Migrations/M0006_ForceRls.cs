using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Common.Persistence.Migrations;

/// <summary>
/// Row-level security that the tables' owner cannot step around: FORCE makes the policies apply to the
/// owner too (only a superuser or a BYPASSRLS role still passes, and the app refuses to serve as one).
/// Every tenant table (a table with community_id) created before this migration is covered here, found
/// from the catalog; a tenant table added later enables and forces RLS in its own migration, and the RLS
/// penetration test fails until it does.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0006_force_rls")]
public sealed class M0006_ForceRls : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            DO $$
            DECLARE
                tenant_table regclass;
            BEGIN
                FOR tenant_table IN
                    SELECT c.oid::regclass
                    FROM pg_class c
                    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'community_id' AND NOT a.attisdropped
                    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                LOOP
                    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tenant_table);
                END LOOP;
            END
            $$;
            """);
    }
}
