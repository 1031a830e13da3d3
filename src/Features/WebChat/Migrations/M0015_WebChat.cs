using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.WebChat.Migrations;

/// <summary>
/// Where a community lets its chat be embedded (frame-ancestors) and opened from (WebSocket Origin):
/// one row per community, the tenant's (RLS, forced); a community without a row allows Freeside's own origin only.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0015_webchat")]
public sealed class M0015_WebChat : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE webchat_settings (
                community_id uuid PRIMARY KEY REFERENCES communities (id),
                allowed_origins text[] NOT NULL CHECK (cardinality(allowed_origins) <= 20),
                updated_at timestamptz NOT NULL
            );
            ALTER TABLE webchat_settings ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY webchat_settings_tenant ON webchat_settings
                USING (freeside_tenant_visible(community_id))
                WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON webchat_settings TO freeside_app;
            GRANT UPDATE (allowed_origins, updated_at) ON webchat_settings TO freeside_app;
            """);
    }
}
