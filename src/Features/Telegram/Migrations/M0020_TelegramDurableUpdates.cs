using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Telegram.Migrations;

/// <summary>
/// An accepted update is kept with its body until it has been handled, so a process that dies after
/// answering Telegram (which then never redelivers) leaves it for another replica, or its own restart,
/// to handle. claimed_at says who is on it; a claim older than the recovery horizon is taken over.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0020_telegram_durable_updates")]
public sealed class M0020_TelegramDurableUpdates : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            ALTER TABLE telegram_updates ADD COLUMN body text CHECK (length(body) <= 1048576);
            ALTER TABLE telegram_updates ADD COLUMN claimed_at timestamptz;
            ALTER TABLE telegram_updates ADD COLUMN handled_at timestamptz;
            -- Updates recorded before this migration were handled (or lost) by the old in-memory queue.
            UPDATE telegram_updates SET handled_at = received_at, claimed_at = received_at;
            CREATE INDEX ix_telegram_updates_pending ON telegram_updates (claimed_at) WHERE handled_at IS NULL;
            GRANT UPDATE (claimed_at, handled_at, body) ON telegram_updates TO freeside_app;
            """);
    }
}
