using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Ledger.Migrations;

/// <summary>
/// Reversals: part or all of a finalized reservation's charge given back to the lots it was charged
/// from (entry kind 'reverse'). Append-only like the entries; invariant numbers refer to docs/ledger.md.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0004_reversals")]
public sealed class M0004_Reversals : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
            ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
                CHECK (kind IN ('mint', 'hold', 'release', 'charge', 'expire_hold', 'expire', 'reverse')) NOT VALID;
            ALTER TABLE ledger_entries VALIDATE CONSTRAINT ledger_entries_kind_check;

            -- C3 and C4 are backed here: a reversal belongs to one reservation and is never changed;
            -- the guard proves the reversals of a reservation never exceed its charge.
            CREATE TABLE credit_reversals (
                id uuid PRIMARY KEY,
                account_id uuid NOT NULL REFERENCES credit_accounts (id),
                community_id uuid,
                reservation_id uuid NOT NULL REFERENCES credit_reservations (id),
                idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
                amount bigint NOT NULL CHECK (amount > 0),
                reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
                created_at timestamptz NOT NULL,
                CONSTRAINT ux_credit_reversals_idempotency UNIQUE (account_id, idempotency_key)
            );
            CREATE INDEX ix_credit_reversals_reservation ON credit_reversals (reservation_id);
            CREATE TRIGGER tr_credit_reversals_append_only BEFORE UPDATE OR DELETE ON credit_reversals
                FOR EACH ROW EXECUTE FUNCTION freeside_refuse_change();
            CREATE TRIGGER tr_credit_reversals_no_truncate BEFORE TRUNCATE ON credit_reversals
                FOR EACH STATEMENT EXECUTE FUNCTION freeside_refuse_change();

            ALTER TABLE credit_reversals ENABLE ROW LEVEL SECURITY;
            CREATE POLICY tenant ON credit_reversals USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON credit_reversals TO freeside_app;
            """);
    }
}
