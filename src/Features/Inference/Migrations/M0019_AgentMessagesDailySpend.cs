using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Inference.Migrations;

/// <summary>
/// Every chat sums what its wallet spent in the community today (the per-wallet daily cap). The index of
/// 0011 leads with (community, nft), so that sum read every message of the community; this one answers
/// it from the wallet's own rows of the day, the cost carried in the index.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0019_agent_messages_daily_spend")]
public sealed class M0019_AgentMessagesDailySpend : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE INDEX ix_agent_messages_wallet_spend ON agent_messages (community_id, author_wallet, created_at)
                INCLUDE (cost_micro) WHERE role = 'assistant';
            """);
    }
}
