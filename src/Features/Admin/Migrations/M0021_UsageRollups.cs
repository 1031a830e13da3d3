using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Admin.Migrations;

/// <summary>
/// Daily usage rollups for the admin usage view, so it sums a row per day and pool or wallet instead
/// of every usage event of the month. The rows are written by triggers in the transaction that writes
/// the usage event (or the reservation's wallet), so the rollup is exactly as fresh as the events and
/// needs no job; the view reads the partial days at the window's edges from the events themselves.
/// The pool and wallet dimensions are separate rows because the view never crosses them, and a
/// pool × wallet row per day would multiply the rows it sums. Tenant table (RLS, forced).
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0021_usage_rollups")]
public sealed class M0021_UsageRollups : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            -- key: the pool (coalesce(pool_id, 'none'), as the view groups) or the lower-case wallet ('' when the
            -- reservation has no wallet). day: the UTC date of the usage event's created_at.
            CREATE TABLE usage_daily_rollups (
                community_id uuid NOT NULL REFERENCES communities (id),
                day date NOT NULL,
                dimension text NOT NULL CHECK (dimension IN ('pool', 'wallet')),
                key text NOT NULL,
                spend_micro bigint NOT NULL,
                calls bigint NOT NULL,
                PRIMARY KEY (community_id, dimension, day, key)
            );
            ALTER TABLE usage_daily_rollups ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant ON usage_daily_rollups USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON usage_daily_rollups TO freeside_app;
            GRANT UPDATE (spend_micro, calls) ON usage_daily_rollups TO freeside_app;

            -- Concurrent writers of one day and key both count: the upsert adds to the row under its row lock
            -- (ON CONFLICT ... DO UPDATE waits for the other transaction and then adds to what it committed).
            -- Rows are upserted in key order so two multi-key statements cannot deadlock on each other.
            CREATE FUNCTION usage_daily_rollups_add_events() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                INSERT INTO usage_daily_rollups AS r (community_id, day, dimension, key, spend_micro, calls)
                SELECT s.community_id, s.day, s.dimension, s.key, sum(s.amount), count(*)
                FROM (
                    SELECT n.community_id, (n.created_at AT TIME ZONE 'UTC')::date AS day, 'pool' AS dimension,
                           coalesce(n.pool_id, 'none') AS key, n.amount_micro AS amount
                    FROM inserted_usage n WHERE n.community_id IS NOT NULL
                    UNION ALL
                    SELECT n.community_id, (n.created_at AT TIME ZONE 'UTC')::date, 'wallet', coalesce(w.wallet, ''), n.amount_micro
                    FROM inserted_usage n LEFT JOIN reservation_wallets w ON w.reservation_id = n.reservation_id
                    WHERE n.community_id IS NOT NULL
                ) s
                GROUP BY s.community_id, s.dimension, s.day, s.key
                ORDER BY s.community_id, s.dimension, s.day, s.key
                ON CONFLICT (community_id, dimension, day, key) DO UPDATE
                    SET spend_micro = r.spend_micro + excluded.spend_micro, calls = r.calls + excluded.calls;
                RETURN NULL;
            END
            $fn$;
            CREATE TRIGGER tr_usage_events_daily_rollups AFTER INSERT ON usage_events
                REFERENCING NEW TABLE AS inserted_usage FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_rollups_add_events();

            -- Chat records a reservation's wallet before it can be finalized, so this normally moves nothing; if a
            -- wallet is ever recorded after its usage event, the event's spend moves from '' to the wallet.
            CREATE FUNCTION usage_daily_rollups_attribute_wallets() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                INSERT INTO usage_daily_rollups AS r (community_id, day, dimension, key, spend_micro, calls)
                SELECT s.community_id, s.day, 'wallet', s.key, sum(s.amount), sum(s.calls)
                FROM (
                    SELECT u.community_id, (u.created_at AT TIME ZONE 'UTC')::date AS day, k.key, k.sign * u.amount_micro AS amount, k.sign AS calls
                    FROM inserted_wallets w
                    JOIN usage_events u ON u.reservation_id = w.reservation_id
                    CROSS JOIN LATERAL (VALUES (w.wallet, 1), ('', -1)) k (key, sign)
                    WHERE u.community_id IS NOT NULL
                ) s
                GROUP BY s.community_id, s.day, s.key
                ORDER BY s.community_id, s.day, s.key
                ON CONFLICT (community_id, dimension, day, key) DO UPDATE
                    SET spend_micro = r.spend_micro + excluded.spend_micro, calls = r.calls + excluded.calls;
                RETURN NULL;
            END
            $fn$;
            CREATE TRIGGER tr_reservation_wallets_daily_rollups AFTER INSERT ON reservation_wallets
                REFERENCING NEW TABLE AS inserted_wallets FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_rollups_attribute_wallets();

            -- Backfill from the events already recorded (RLS is forced on the owner too: the platform scope, this transaction only).
            SELECT set_config('freeside.community_id', '*', true);
            INSERT INTO usage_daily_rollups (community_id, day, dimension, key, spend_micro, calls)
            SELECT u.community_id, (u.created_at AT TIME ZONE 'UTC')::date, 'pool', coalesce(u.pool_id, 'none'), sum(u.amount_micro), count(*)
            FROM usage_events u WHERE u.community_id IS NOT NULL
            GROUP BY 1, 2, 3, 4;
            INSERT INTO usage_daily_rollups (community_id, day, dimension, key, spend_micro, calls)
            SELECT u.community_id, (u.created_at AT TIME ZONE 'UTC')::date, 'wallet', coalesce(w.wallet, ''), sum(u.amount_micro), count(*)
            FROM usage_events u LEFT JOIN reservation_wallets w ON w.reservation_id = u.reservation_id WHERE u.community_id IS NOT NULL
            GROUP BY 1, 2, 3, 4;
            """);
    }
}
