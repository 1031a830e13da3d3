using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Ledger.Migrations;

/// <summary>
/// The credit ledger: accounts, lots, reservations, append-only ledger entries and usage events,
/// and the guard's violation log. Invariant numbers (C1–C5) refer to docs/ledger.md.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0002_ledger")]
public sealed class M0002_Ledger : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            -- A developer account has no community: community_id NULL rows are visible only in the
            -- platform scope ('*'), because freeside_tenant_visible(NULL) is never true for a tenant.
            CREATE TABLE credit_accounts (
                id uuid PRIMARY KEY,
                kind text NOT NULL CHECK (kind IN ('community', 'developer')),
                community_id uuid REFERENCES communities (id),
                developer_id uuid,
                created_at timestamptz NOT NULL,
                CONSTRAINT ck_credit_accounts_owner CHECK (
                    (kind = 'community' AND community_id IS NOT NULL AND developer_id IS NULL)
                    OR (kind = 'developer' AND developer_id IS NOT NULL AND community_id IS NULL))
            );
            CREATE UNIQUE INDEX ux_credit_accounts_community ON credit_accounts (community_id) WHERE kind = 'community';
            CREATE UNIQUE INDEX ux_credit_accounts_developer ON credit_accounts (developer_id) WHERE kind = 'developer';

            -- C1 is backed here: every column non-negative at once, the sum checked at commit (deferred,
            -- so the conservation guard sees a broken sum first and reports it), original never updated
            -- (the app role may update only the moving columns).
            CREATE TABLE credit_lots (
                id uuid PRIMARY KEY,
                account_id uuid NOT NULL REFERENCES credit_accounts (id),
                community_id uuid,
                source text NOT NULL CHECK (source IN ('purchase', 'grant', 'promotion', 'refund')),
                source_ref text NOT NULL CHECK (length(source_ref) BETWEEN 1 AND 300),
                original bigint NOT NULL CHECK (original > 0),
                available bigint NOT NULL CHECK (available >= 0),
                reserved bigint NOT NULL CHECK (reserved >= 0),
                consumed bigint NOT NULL CHECK (consumed >= 0),
                expired bigint NOT NULL CHECK (expired >= 0),
                entry_seq integer NOT NULL CHECK (entry_seq >= 1),
                expires_at timestamptz,
                created_at timestamptz NOT NULL,
                CONSTRAINT ux_credit_lots_source UNIQUE (source, source_ref)
            );
            CREATE INDEX ix_credit_lots_account ON credit_lots (account_id);

            CREATE FUNCTION credit_lots_conserved() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF NEW.available + NEW.reserved + NEW.consumed + NEW.expired <> NEW.original THEN
                    RAISE EXCEPTION 'C1: lot % does not conserve: % + % + % + % <> %', NEW.id,
                        NEW.available, NEW.reserved, NEW.consumed, NEW.expired, NEW.original
                        USING ERRCODE = 'check_violation';
                END IF;
                RETURN NULL;
            END
            $fn$;
            CREATE CONSTRAINT TRIGGER tr_credit_lots_conserved AFTER INSERT OR UPDATE ON credit_lots
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION credit_lots_conserved();

            CREATE TABLE credit_reservations (
                id uuid PRIMARY KEY,
                account_id uuid NOT NULL REFERENCES credit_accounts (id),
                community_id uuid,
                idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
                held bigint NOT NULL CHECK (held >= 0),
                hold_lots uuid[] NOT NULL,
                hold_amounts bigint[] NOT NULL,
                status text NOT NULL CHECK (status IN ('pending', 'finalized', 'released', 'expired')),
                charged bigint CHECK (charged >= 0 AND charged <= held),
                finalization_id text CHECK (length(finalization_id) BETWEEN 1 AND 200),
                settle_reason text,
                nft_id text,
                created_at timestamptz NOT NULL,
                settled_at timestamptz,
                CONSTRAINT ux_credit_reservations_idempotency UNIQUE (account_id, idempotency_key),
                CONSTRAINT ux_credit_reservations_finalization UNIQUE (finalization_id),
                CONSTRAINT ck_credit_reservations_settled CHECK ((status = 'pending') = (settled_at IS NULL)),
                CONSTRAINT ck_credit_reservations_charged CHECK ((status = 'finalized') = (charged IS NOT NULL)),
                CONSTRAINT ck_credit_reservations_finalization CHECK ((status = 'finalized') = (finalization_id IS NOT NULL)),
                CONSTRAINT ck_credit_reservations_holds CHECK (cardinality(hold_lots) = cardinality(hold_amounts))
            );
            CREATE INDEX ix_credit_reservations_pending ON credit_reservations (account_id) INCLUDE (held) WHERE status = 'pending';
            CREATE INDEX ix_credit_reservations_pending_age ON credit_reservations (created_at) WHERE status = 'pending';

            -- C3 is backed here: a reservation leaves 'pending' exactly once and never changes again.
            CREATE FUNCTION credit_reservations_settle_once() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF OLD.status <> 'pending' THEN
                    RAISE EXCEPTION 'C3: reservation % is already %', OLD.id, OLD.status USING ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
            END
            $fn$;
            CREATE TRIGGER tr_credit_reservations_settle_once BEFORE UPDATE ON credit_reservations
                FOR EACH ROW EXECUTE FUNCTION credit_reservations_settle_once();

            -- Every movement of every lot, in order. Each row carries the lot's columns after it, so the
            -- guard proves a command's entries chain from the previous ones without replaying history (C5).
            CREATE TABLE ledger_entries (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                account_id uuid NOT NULL,
                community_id uuid,
                lot_id uuid NOT NULL REFERENCES credit_lots (id),
                lot_seq integer NOT NULL CHECK (lot_seq >= 1),
                reservation_id uuid REFERENCES credit_reservations (id),
                kind text NOT NULL CHECK (kind IN ('mint', 'hold', 'release', 'charge', 'expire_hold', 'expire')),
                amount bigint NOT NULL CHECK (amount > 0),
                available_after bigint NOT NULL,
                reserved_after bigint NOT NULL,
                consumed_after bigint NOT NULL,
                expired_after bigint NOT NULL,
                reason text,
                created_at timestamptz NOT NULL,
                CONSTRAINT ux_ledger_entries_lot_seq UNIQUE (lot_id, lot_seq)
            );
            CREATE INDEX ix_ledger_entries_reservation ON ledger_entries (reservation_id) WHERE reservation_id IS NOT NULL;
            CREATE INDEX ix_ledger_entries_account ON ledger_entries (account_id, id);

            CREATE TABLE usage_events (
                id uuid PRIMARY KEY,
                account_id uuid NOT NULL REFERENCES credit_accounts (id),
                community_id uuid,
                nft_id text,
                pool_id text,
                tokens_input integer NOT NULL CHECK (tokens_input >= 0),
                tokens_output integer NOT NULL CHECK (tokens_output >= 0),
                amount_micro bigint NOT NULL CHECK (amount_micro >= 0),
                requested_micro bigint NOT NULL CHECK (requested_micro >= 0),
                reservation_id uuid NOT NULL REFERENCES credit_reservations (id),
                finalization_id text NOT NULL,
                billing_method text NOT NULL CHECK (billing_method IN ('reported', 'observed_chunks')),
                accounting_mode text NOT NULL CHECK (accounting_mode IN ('standard', 'byok')),
                conservation_guard_result boolean NOT NULL,
                conservation_guard_violations jsonb,
                created_at timestamptz NOT NULL,
                CONSTRAINT ux_usage_events_finalization UNIQUE (finalization_id),
                CONSTRAINT ux_usage_events_reservation UNIQUE (reservation_id)
            );
            CREATE INDEX ix_usage_events_community_created ON usage_events (community_id, created_at);

            -- Append-only: the app role has no UPDATE/DELETE grant, and even the owner is refused.
            CREATE FUNCTION freeside_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
            END
            $fn$;
            CREATE TRIGGER tr_ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
                FOR EACH ROW EXECUTE FUNCTION freeside_refuse_change();
            CREATE TRIGGER tr_ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
                FOR EACH STATEMENT EXECUTE FUNCTION freeside_refuse_change();
            CREATE TRIGGER tr_usage_events_append_only BEFORE UPDATE OR DELETE ON usage_events
                FOR EACH ROW EXECUTE FUNCTION freeside_refuse_change();
            CREATE TRIGGER tr_usage_events_no_truncate BEFORE TRUNCATE ON usage_events
                FOR EACH STATEMENT EXECUTE FUNCTION freeside_refuse_change();

            -- What the guard and the audits found, written outside the failing transaction.
            CREATE TABLE conservation_violations (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                account_id uuid NOT NULL,
                community_id uuid,
                invariant text NOT NULL,
                source text NOT NULL CHECK (source IN ('guard', 'audit')),
                request_type text,
                detail text NOT NULL,
                detected_at timestamptz NOT NULL
            );
            CREATE INDEX ix_conservation_violations_community ON conservation_violations (community_id, detected_at DESC);

            ALTER TABLE credit_accounts ENABLE ROW LEVEL SECURITY;
            ALTER TABLE credit_lots ENABLE ROW LEVEL SECURITY;
            ALTER TABLE credit_reservations ENABLE ROW LEVEL SECURITY;
            ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
            ALTER TABLE usage_events ENABLE ROW LEVEL SECURITY;
            ALTER TABLE conservation_violations ENABLE ROW LEVEL SECURITY;
            CREATE POLICY tenant ON credit_accounts USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            CREATE POLICY tenant ON credit_lots USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            CREATE POLICY tenant ON credit_reservations USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            CREATE POLICY tenant ON ledger_entries USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            CREATE POLICY tenant ON usage_events USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            CREATE POLICY tenant ON conservation_violations USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));

            GRANT SELECT, INSERT ON credit_accounts TO freeside_app;
            GRANT SELECT, INSERT ON credit_lots TO freeside_app;
            GRANT UPDATE (available, reserved, consumed, expired, entry_seq) ON credit_lots TO freeside_app;
            GRANT SELECT, INSERT ON credit_reservations TO freeside_app;
            GRANT UPDATE (status, charged, finalization_id, settle_reason, settled_at) ON credit_reservations TO freeside_app;
            GRANT SELECT, INSERT ON ledger_entries TO freeside_app;
            GRANT SELECT, INSERT ON usage_events TO freeside_app;
            GRANT SELECT, INSERT ON conservation_violations TO freeside_app;
            GRANT USAGE ON SEQUENCE ledger_entries_id_seq, conservation_violations_id_seq TO freeside_app;
            """);
    }
}
