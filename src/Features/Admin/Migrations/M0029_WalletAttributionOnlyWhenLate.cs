using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Admin.Migrations;

/// <summary>
/// A chat records its wallet row right after the hold, long before the usage event its finalization writes, so the
/// wallet rows' rollup trigger almost never has spend to move, yet it ran both of its upserts (two aggregating
/// statements over the inserted rows joined to usage_events) for every chat. It now first asks whether any inserted
/// wallet row already has a usage event, and runs them only then; a wallet row recorded late moves the spend as before.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0029_wallet_attribution_only_when_late")]
public sealed class M0029_WalletAttributionOnlyWhenLate : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql($"""
            CREATE OR REPLACE FUNCTION usage_daily_rollups_attribute_wallets() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM inserted_wallets w JOIN usage_events u ON u.reservation_id = w.reservation_id) THEN
                    RETURN NULL;
                END IF;
                {M0025_UsageRollupsWithoutFunctionCalls.AttributeWallets()}
                RETURN NULL;
            END
            $fn$;
            """);
    }
}
