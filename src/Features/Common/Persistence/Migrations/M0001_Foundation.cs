using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Common.Persistence.Migrations;

[DbContext(typeof(FreesideDb))]
[Migration("0001_foundation")]
public sealed class M0001_Foundation : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freeside_app') THEN
                    -- Least privilege: no superuser, no DDL, no BYPASSRLS. Its password is set by the operator.
                    CREATE ROLE freeside_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
                END IF;
            END
            $$;

            GRANT USAGE ON SCHEMA public TO freeside_app;

            -- The current tenant for row-level security; '*' is the platform scope, NULL sees nothing.
            CREATE FUNCTION freeside_tenant_visible(row_community uuid) RETURNS boolean
                LANGUAGE sql STABLE AS $fn$
                    SELECT coalesce(current_setting('freeside.community_id', true), '') IN (row_community::text, '*')
                $fn$;
            GRANT EXECUTE ON FUNCTION freeside_tenant_visible(uuid) TO freeside_app;

            CREATE TABLE communities (
                id uuid PRIMARY KEY,
                slug text NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
                name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
                chain_id bigint NOT NULL CHECK (chain_id > 0),
                collection_address text NOT NULL CHECK (collection_address ~ '^0x[0-9a-f]{40}$'),
                default_access_level text NOT NULL CHECK (default_access_level IN ('free', 'pro', 'enterprise')),
                created_at timestamptz NOT NULL DEFAULT now(),
                CONSTRAINT ux_communities_slug UNIQUE (slug)
            );
            GRANT SELECT, INSERT, UPDATE ON communities TO freeside_app;
            """);
    }
}
