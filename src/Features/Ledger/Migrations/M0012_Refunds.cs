using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Ledger.Migrations;

/// <summary>
/// Refunds: a refunded purchase takes its credits back (entry kind 'clawback', into a fifth lot column
/// taken_back) and what was already spent becomes the account's debt, which the next purchase repays
/// first (entry kind 'repay'). Invariant numbers (C1, C5, C6) refer to docs/ledger.md.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0012_refunds")]
public sealed class M0012_Refunds : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
            ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
                CHECK (kind IN ('mint', 'hold', 'release', 'charge', 'expire_hold', 'expire', 'reverse', 'clawback', 'repay')) NOT VALID;
            ALTER TABLE ledger_entries VALIDATE CONSTRAINT ledger_entries_kind_check;
            ALTER TABLE ledger_entries ADD COLUMN taken_back_after bigint NOT NULL DEFAULT 0 CHECK (taken_back_after >= 0);
            -- C6 sums an account's clawback and repay entries on every debt movement.
            CREATE INDEX ix_ledger_entries_debt ON ledger_entries (account_id) WHERE kind IN ('clawback', 'repay');

            ALTER TABLE credit_lots ADD COLUMN taken_back bigint NOT NULL DEFAULT 0 CHECK (taken_back >= 0);
            GRANT UPDATE (taken_back) ON credit_lots TO freeside_app;

            CREATE OR REPLACE FUNCTION credit_lots_conserved() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF NEW.available + NEW.reserved + NEW.consumed + NEW.expired + NEW.taken_back <> NEW.original THEN
                    RAISE EXCEPTION 'C1: lot % does not conserve: % + % + % + % + % <> %', NEW.id,
                        NEW.available, NEW.reserved, NEW.consumed, NEW.expired, NEW.taken_back, NEW.original
                        USING ERRCODE = 'check_violation';
                END IF;
                RETURN NULL;
            END
            $fn$;

            -- The debt is a running balance backed by C6: the clawbacks' debts less the repay entries.
            ALTER TABLE credit_accounts ADD COLUMN debt_micro bigint NOT NULL DEFAULT 0 CHECK (debt_micro >= 0);
            GRANT UPDATE (debt_micro) ON credit_accounts TO freeside_app;

            -- One clawback per refunded purchase, ever (source_ref is the purchase lot's); never changed.
            CREATE TABLE credit_clawbacks (
                id uuid PRIMARY KEY,
                account_id uuid NOT NULL REFERENCES credit_accounts (id),
                community_id uuid,
                source_ref text NOT NULL CHECK (length(source_ref) BETWEEN 1 AND 300),
                credits_micro bigint NOT NULL CHECK (credits_micro > 0),
                taken_micro bigint NOT NULL CHECK (taken_micro >= 0),
                debt_micro bigint NOT NULL CHECK (debt_micro >= 0),
                created_at timestamptz NOT NULL,
                CONSTRAINT ux_credit_clawbacks_source UNIQUE (source_ref),
                CONSTRAINT ck_credit_clawbacks_adds_up CHECK (taken_micro + debt_micro = credits_micro)
            );
            CREATE INDEX ix_credit_clawbacks_account ON credit_clawbacks (account_id);
            CREATE TRIGGER tr_credit_clawbacks_append_only BEFORE UPDATE OR DELETE ON credit_clawbacks
                FOR EACH ROW EXECUTE FUNCTION freeside_refuse_change();
            CREATE TRIGGER tr_credit_clawbacks_no_truncate BEFORE TRUNCATE ON credit_clawbacks
                FOR EACH STATEMENT EXECUTE FUNCTION freeside_refuse_change();

            ALTER TABLE credit_clawbacks ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant ON credit_clawbacks USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON credit_clawbacks TO freeside_app;
            """);
    }
}
