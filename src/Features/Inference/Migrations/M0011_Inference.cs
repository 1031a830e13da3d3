using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Inference.Migrations;

/// <summary>
/// Conversations with agents: one row per message, the tenant's (RLS, forced), read newest first per
/// conversation for context and paging. Append-only for the app role.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0011_inference")]
public sealed class M0011_Inference : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE agent_messages (
                id uuid PRIMARY KEY,
                conversation_id uuid NOT NULL,
                nft_id text NOT NULL CHECK (length(nft_id) BETWEEN 1 AND 200),
                community_id uuid NOT NULL REFERENCES communities (id),
                source text NOT NULL CHECK (source IN ('web', 'discord', 'telegram', 'api')),
                author_wallet text NOT NULL CHECK (author_wallet ~ '^0x[0-9a-f]{40}$'),
                role text NOT NULL CHECK (role IN ('user', 'assistant')),
                content text NOT NULL,
                tokens_input integer CHECK (tokens_input >= 0),
                tokens_output integer CHECK (tokens_output >= 0),
                pool_id text,
                cost_micro bigint CHECK (cost_micro >= 0),
                created_at timestamptz NOT NULL
            );
            CREATE INDEX ix_agent_messages_conversation_created ON agent_messages (conversation_id, created_at, id);
            CREATE INDEX ix_agent_messages_nft_author ON agent_messages (community_id, nft_id, author_wallet, created_at);
            ALTER TABLE agent_messages ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY agent_messages_tenant ON agent_messages
                USING (freeside_tenant_visible(community_id))
                WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON agent_messages TO freeside_app;

            CREATE TABLE agent_settings (
                community_id uuid PRIMARY KEY REFERENCES communities (id),
                daily_cap_per_wallet_micro bigint NOT NULL CHECK (daily_cap_per_wallet_micro >= 0),
                updated_at timestamptz NOT NULL
            );
            ALTER TABLE agent_settings ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY agent_settings_tenant ON agent_settings
                USING (freeside_tenant_visible(community_id))
                WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON agent_settings TO freeside_app;
            GRANT UPDATE (daily_cap_per_wallet_micro, updated_at) ON agent_settings TO freeside_app;
            """);
    }
}
