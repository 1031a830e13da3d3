using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Admin.Migrations;

/// <summary>
/// Community admin: spending budgets (one row per community, caps enforced at reservation by
/// BudgetGuard) and which wallet each chat reservation was made for, so spend can be broken down
/// and exported per wallet without Discord or Telegram ids. Both are tenant tables (RLS, forced).
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0016_admin")]
public sealed class M0016_Admin : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE community_budgets (
                community_id uuid PRIMARY KEY REFERENCES communities (id),
                monthly_cap_micro bigint CHECK (monthly_cap_micro >= 0),
                daily_cap_per_wallet_micro bigint CHECK (daily_cap_per_wallet_micro >= 0),
                updated_at timestamptz NOT NULL
            );
            ALTER TABLE community_budgets ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant ON community_budgets USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON community_budgets TO freeside_app;
            GRANT UPDATE (monthly_cap_micro, daily_cap_per_wallet_micro, updated_at) ON community_budgets TO freeside_app;

            -- Written by BudgetGuard beside each chat reservation; wallet is the lower-case address.
            CREATE TABLE reservation_wallets (
                reservation_id uuid PRIMARY KEY,
                community_id uuid NOT NULL REFERENCES communities (id),
                wallet text NOT NULL CHECK (wallet ~ '^0x[0-9a-f]{40}$'),
                created_at timestamptz NOT NULL
            );
            CREATE INDEX ix_reservation_wallets_community_created ON reservation_wallets (community_id, created_at);
            CREATE INDEX ix_reservation_wallets_wallet_created ON reservation_wallets (community_id, wallet, created_at);
            CREATE TRIGGER tr_reservation_wallets_append_only BEFORE UPDATE OR DELETE ON reservation_wallets
                FOR EACH ROW EXECUTE FUNCTION freeside_refuse_change();
            ALTER TABLE reservation_wallets ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant ON reservation_wallets USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON reservation_wallets TO freeside_app;
            """);
    }
}
