using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Linking.Migrations;

/// <summary>
/// When a link was last proven on chain (docs/discord.md, "Re-verification"): verified_at moves on a
/// completed /verify and on each successful daily re-verification; checked_at is when the job last
/// looked, so a chain outage is retried hourly without one run picking the same link twice. Like
/// wallet_links itself, platform data (no community_id, no RLS): one link serves every community.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0022_wallet_link_verification")]
public sealed class M0022_WalletLinkVerification : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            ALTER TABLE wallet_links ADD COLUMN verified_at timestamptz, ADD COLUMN checked_at timestamptz;
            UPDATE wallet_links SET verified_at = linked_at;
            ALTER TABLE wallet_links ALTER COLUMN verified_at SET NOT NULL;
            CREATE INDEX ix_wallet_links_reverify ON wallet_links (platform, verified_at);
            GRANT UPDATE (verified_at, checked_at) ON wallet_links TO freeside_app;
            """);
    }
}
