using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Linking.Migrations;

/// <summary>
/// Links between a chat user (Discord, Telegram) and a wallet, proven by a SIWE signature on a
/// single-use link. Not tenant data: a person's link serves every community they hold NFTs in.
/// Only a hash of the link token is stored, so a database reader cannot complete someone's link.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0013_links")]
public sealed class M0013_Links : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE link_requests (
                id uuid PRIMARY KEY,
                token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
                platform text NOT NULL CHECK (platform IN ('discord', 'telegram')),
                external_user_id text NOT NULL CHECK (length(external_user_id) BETWEEN 1 AND 64),
                display_name text CHECK (length(display_name) <= 100),
                created_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                attempts integer NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 3),
                completed_at timestamptz,
                wallet text CHECK (wallet ~ '^0x[0-9a-f]{40}$'),
                CONSTRAINT ux_link_requests_token UNIQUE (token_hash),
                CONSTRAINT ck_link_requests_completed CHECK ((completed_at IS NULL) = (wallet IS NULL))
            );
            CREATE INDEX ix_link_requests_expires ON link_requests (expires_at);
            GRANT SELECT, INSERT, DELETE ON link_requests TO freeside_app;
            GRANT UPDATE (attempts, completed_at, wallet) ON link_requests TO freeside_app;

            CREATE TABLE wallet_links (
                platform text NOT NULL CHECK (platform IN ('discord', 'telegram')),
                external_user_id text NOT NULL CHECK (length(external_user_id) BETWEEN 1 AND 64),
                wallet text NOT NULL CHECK (wallet ~ '^0x[0-9a-f]{40}$'),
                linked_at timestamptz NOT NULL,
                PRIMARY KEY (platform, external_user_id)
            );
            CREATE INDEX ix_wallet_links_wallet ON wallet_links (wallet);
            GRANT SELECT, INSERT, DELETE ON wallet_links TO freeside_app;
            GRANT UPDATE (wallet, linked_at) ON wallet_links TO freeside_app;
            """);
    }
}
