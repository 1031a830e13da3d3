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
            """);
    }
}
