using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Discord.Migrations;

/// <summary>
/// The durable queue of Discord writes (docs/discord.md). Platform-wide, like Discord's own global
/// limit: rows name where they came from (a community, an interaction) but are drained by every replica, so the table has
/// no row-level security and only the platform admin reads it (dead letters).
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0017_discord")]
public sealed class M0017_Discord : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE discord_writes (
                id uuid PRIMARY KEY,
                dedupe_key text UNIQUE CHECK (length(dedupe_key) BETWEEN 1 AND 200),
                origin text NOT NULL CHECK (length(origin) BETWEEN 1 AND 100),
                method text NOT NULL CHECK (method IN ('POST', 'PATCH', 'PUT', 'DELETE')),
                path text NOT NULL CHECK (length(path) BETWEEN 1 AND 2000),
                body text,
                status text NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
                attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                next_attempt_at timestamptz NOT NULL,
                lease_until timestamptz,
                last_status integer,
                last_error text,
                response text,
                created_at timestamptz NOT NULL,
                finished_at timestamptz
            );
            CREATE INDEX ix_discord_writes_due ON discord_writes (next_attempt_at) WHERE status = 'pending';
            CREATE INDEX ix_discord_writes_dead ON discord_writes (finished_at DESC, id) WHERE status = 'dead';
            GRANT SELECT, INSERT, UPDATE ON discord_writes TO freeside_app;

            -- Which community a Discord server belongs to: routing, as public as the communities table it points at.
            CREATE TABLE discord_guilds (
                guild_id text PRIMARY KEY CHECK (guild_id ~ '^[0-9]{1,20}$'),
                community_slug text NOT NULL UNIQUE REFERENCES communities (slug),
                agent_channel_id text CHECK (agent_channel_id ~ '^[0-9]{1,20}$'),
                linked_at timestamptz NOT NULL
            );
            GRANT SELECT, INSERT, UPDATE, DELETE ON discord_guilds TO freeside_app;

            -- One thread per NFT and holder; a tenant's (RLS, forced).
            CREATE TABLE discord_agent_threads (
                id uuid PRIMARY KEY,
                community_id uuid NOT NULL REFERENCES communities (id),
                guild_id text NOT NULL CHECK (guild_id ~ '^[0-9]{1,20}$'),
                token_id text NOT NULL CHECK (token_id ~ '^[0-9]{1,78}$'),
                holder_user_id text NOT NULL CHECK (holder_user_id ~ '^[0-9]{1,20}$'),
                holder_wallet text NOT NULL CHECK (holder_wallet ~ '^0x[0-9a-f]{40}$'),
                parent_channel_id text NOT NULL CHECK (parent_channel_id ~ '^[0-9]{1,20}$'),
                thread_id text CHECK (thread_id ~ '^[0-9]{1,20}$'),
                name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
                private boolean NOT NULL,
                status text NOT NULL CHECK (status IN ('creating', 'open', 'revoked')),
                conversation_id uuid,
                created_at timestamptz NOT NULL,
                revoked_at timestamptz,
                CONSTRAINT ux_discord_agent_threads_holder UNIQUE (community_id, token_id, holder_user_id)
            );
            CREATE UNIQUE INDEX ux_discord_agent_threads_thread ON discord_agent_threads (thread_id) WHERE thread_id IS NOT NULL;
            ALTER TABLE discord_agent_threads ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY discord_agent_threads_tenant ON discord_agent_threads
                USING (freeside_tenant_visible(community_id))
                WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON discord_agent_threads TO freeside_app;
            GRANT UPDATE (thread_id, status, conversation_id, revoked_at, holder_wallet) ON discord_agent_threads TO freeside_app;

            -- Checkouts started from /buy-credits: whom to tell when the credits arrive.
            CREATE TABLE discord_checkouts (
                payment_id uuid PRIMARY KEY,
                user_id text NOT NULL CHECK (user_id ~ '^[0-9]{1,20}$'),
                community_slug text NOT NULL,
                notified_at timestamptz,
                created_at timestamptz NOT NULL
            );
            GRANT SELECT, INSERT, UPDATE (notified_at) ON discord_checkouts TO freeside_app;
            """);
    }
}
