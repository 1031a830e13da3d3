using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Telegram.Migrations;

/// <summary>
/// The bot's own state, all platform tables (a Telegram chat is not a tenant): every update id
/// accepted (so a redelivered update is processed once), each chat's selected agent, and which chat
/// started which checkout (for the "credits arrived" message, sent once).
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0018_telegram")]
public sealed class M0018_Telegram : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE telegram_updates (
                update_id bigint PRIMARY KEY,
                kind text NOT NULL CHECK (length(kind) BETWEEN 1 AND 40),
                received_at timestamptz NOT NULL
            );
            CREATE INDEX ix_telegram_updates_received ON telegram_updates (received_at);
            GRANT SELECT, INSERT, DELETE ON telegram_updates TO freeside_app;

            CREATE TABLE telegram_chats (
                chat_id bigint PRIMARY KEY,
                user_id bigint NOT NULL,
                community_slug text CHECK (length(community_slug) BETWEEN 1 AND 63),
                token_id text CHECK (length(token_id) BETWEEN 1 AND 78),
                conversation_id uuid,
                updated_at timestamptz NOT NULL,
                CONSTRAINT ck_telegram_chats_agent CHECK ((community_slug IS NULL) = (token_id IS NULL))
            );
            GRANT SELECT, INSERT, UPDATE ON telegram_chats TO freeside_app;

            CREATE TABLE telegram_checkouts (
                payment_id uuid PRIMARY KEY,
                chat_id bigint NOT NULL,
                user_id bigint NOT NULL,
                created_at timestamptz NOT NULL,
                notified_at timestamptz
            );
            GRANT SELECT, INSERT ON telegram_checkouts TO freeside_app;
            GRANT UPDATE (notified_at) ON telegram_checkouts TO freeside_app;
            """);
    }
}
