using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Admin.Migrations;

/// <summary>
/// The usage view's rollups, so that a 30-day window reads a few rows per key instead of 30 per wallet and up to
/// half a day of events joined to their wallets (together most of the view's time at 1,000 wallets and a million
/// events a month): <c>usage_wallet_month_rollups</c>, one row per community, UTC month and wallet with the spend
/// and calls through each day of the month (element d = days 1…d), so any run of days is two subscripts and a
/// window reads at most two rows per wallet; and <c>usage_hour_rollups</c>, one row per community, UTC day and
/// pool or wallet with the spend and calls through each hour (element h = hours 0…h−1), which gives the pools'
/// whole days (element 24) and, for both dimensions, the whole hours of the window's partial first day, so only
/// the partial hour is read from the events. They replace <c>usage_daily_rollups</c> (M0021). Written by the same
/// statement triggers as before, in the writer's transaction: one upsert statement per table, no extra round
/// trip for chat's finalize. Tenant tables (RLS, forced).
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0024_usage_month_and_hour_rollups")]
public sealed class M0024_UsageMonthAndHourRollups : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            -- key: the pool (coalesce(pool_id, 'none'), as the view groups) or the lower-case wallet ('' when the
            -- reservation has no wallet). day, month, hour: of the usage event's created_at in UTC; month is its first day.
            CREATE TABLE usage_hour_rollups (
                community_id uuid NOT NULL REFERENCES communities (id),
                day date NOT NULL,
                dimension text NOT NULL CHECK (dimension IN ('pool', 'wallet')),
                key text NOT NULL,
                spend_through bigint[] NOT NULL CHECK (cardinality(spend_through) = 24),
                calls_through bigint[] NOT NULL CHECK (cardinality(calls_through) = 24),
                PRIMARY KEY (community_id, dimension, day, key)
            );
            CREATE TABLE usage_wallet_month_rollups (
                community_id uuid NOT NULL REFERENCES communities (id),
                month date NOT NULL CHECK (extract(day FROM month) = 1),
                wallet text NOT NULL,
                spend_through bigint[] NOT NULL CHECK (cardinality(spend_through) = 31),
                calls_through bigint[] NOT NULL CHECK (cardinality(calls_through) = 31),
                PRIMARY KEY (community_id, month, wallet)
            );
            ALTER TABLE usage_hour_rollups ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant ON usage_hour_rollups USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON usage_hour_rollups TO freeside_app;
            GRANT UPDATE (spend_through, calls_through) ON usage_hour_rollups TO freeside_app;
            ALTER TABLE usage_wallet_month_rollups ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant ON usage_wallet_month_rollups USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON usage_wallet_month_rollups TO freeside_app;
            GRANT UPDATE (spend_through, calls_through) ON usage_wallet_month_rollups TO freeside_app;

            -- The running totals through slots 1..n of amounts in the given slots (element i: slots 1..i).
            CREATE FUNCTION usage_through(slots int[], amounts bigint[], n int) RETURNS bigint[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
                SELECT array_agg(coalesce((SELECT sum(a) FROM unnest(slots, amounts) u (s, a) WHERE u.s <= i), 0)::bigint ORDER BY i)
                FROM generate_series(1, n) i
            $fn$;
            CREATE FUNCTION usage_through_add(a bigint[], b bigint[]) RETURNS bigint[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
                SELECT array_agg(x + y ORDER BY i) FROM unnest(a, b) WITH ORDINALITY u (x, y, i)
            $fn$;
            GRANT EXECUTE ON FUNCTION usage_through(int[], bigint[], int), usage_through_add(bigint[], bigint[]) TO freeside_app;

            -- As before, concurrent writers of one key both count (the upsert adds under the row lock), and each
            -- statement upserts its rows in key order, hour rows before month rows, so two cannot deadlock.
            CREATE OR REPLACE FUNCTION usage_daily_rollups_add_events() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                INSERT INTO usage_hour_rollups AS r (community_id, day, dimension, key, spend_through, calls_through)
                SELECT d.community_id, d.day, d.dimension, d.key, usage_through(array_agg(d.slot), array_agg(d.spend), 24), usage_through(array_agg(d.slot), array_agg(d.calls), 24)
                FROM (
                    SELECT s.community_id, s.day, s.dimension, s.key, s.slot, sum(s.amount)::bigint AS spend, count(*) AS calls
                    FROM (
                        SELECT n.community_id, (n.created_at AT TIME ZONE 'UTC')::date AS day, 'pool' AS dimension, coalesce(n.pool_id, 'none') AS key,
                               extract(hour FROM n.created_at AT TIME ZONE 'UTC')::int + 1 AS slot, n.amount_micro AS amount
                        FROM inserted_usage n WHERE n.community_id IS NOT NULL
                        UNION ALL
                        SELECT n.community_id, (n.created_at AT TIME ZONE 'UTC')::date, 'wallet', coalesce(w.wallet, ''),
                               extract(hour FROM n.created_at AT TIME ZONE 'UTC')::int + 1, n.amount_micro
                        FROM inserted_usage n LEFT JOIN reservation_wallets w ON w.reservation_id = n.reservation_id
                        WHERE n.community_id IS NOT NULL
                    ) s
                    GROUP BY 1, 2, 3, 4, 5
                ) d
                GROUP BY d.community_id, d.dimension, d.day, d.key
                ORDER BY d.community_id, d.dimension, d.day, d.key
                ON CONFLICT (community_id, dimension, day, key) DO UPDATE
                    SET spend_through = usage_through_add(r.spend_through, excluded.spend_through),
                        calls_through = usage_through_add(r.calls_through, excluded.calls_through);
                INSERT INTO usage_wallet_month_rollups AS r (community_id, month, wallet, spend_through, calls_through)
                SELECT d.community_id, d.month, d.wallet, usage_through(array_agg(d.slot), array_agg(d.spend), 31), usage_through(array_agg(d.slot), array_agg(d.calls), 31)
                FROM (
                    SELECT n.community_id, date_trunc('month', n.created_at AT TIME ZONE 'UTC')::date AS month, coalesce(w.wallet, '') AS wallet,
                           extract(day FROM n.created_at AT TIME ZONE 'UTC')::int AS slot, sum(n.amount_micro)::bigint AS spend, count(*) AS calls
                    FROM inserted_usage n LEFT JOIN reservation_wallets w ON w.reservation_id = n.reservation_id
                    WHERE n.community_id IS NOT NULL
                    GROUP BY 1, 2, 3, 4
                ) d
                GROUP BY d.community_id, d.month, d.wallet
                ORDER BY d.community_id, d.month, d.wallet
                ON CONFLICT (community_id, month, wallet) DO UPDATE
                    SET spend_through = usage_through_add(r.spend_through, excluded.spend_through),
                        calls_through = usage_through_add(r.calls_through, excluded.calls_through);
                RETURN NULL;
            END
            $fn$;

            -- A wallet recorded after its usage event (normally none: chat records it at the hold) moves the event's
            -- spend from '' to the wallet, in both tables.
            CREATE OR REPLACE FUNCTION usage_daily_rollups_attribute_wallets() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                INSERT INTO usage_hour_rollups AS r (community_id, day, dimension, key, spend_through, calls_through)
                SELECT d.community_id, d.day, 'wallet', d.key, usage_through(array_agg(d.slot), array_agg(d.spend), 24), usage_through(array_agg(d.slot), array_agg(d.calls), 24)
                FROM (
                    SELECT u.community_id, (u.created_at AT TIME ZONE 'UTC')::date AS day, k.key, extract(hour FROM u.created_at AT TIME ZONE 'UTC')::int + 1 AS slot,
                           sum(k.sign * u.amount_micro)::bigint AS spend, sum(k.sign)::bigint AS calls
                    FROM inserted_wallets w
                    JOIN usage_events u ON u.reservation_id = w.reservation_id
                    CROSS JOIN LATERAL (VALUES (w.wallet, 1), ('', -1)) k (key, sign)
                    WHERE u.community_id IS NOT NULL
                    GROUP BY 1, 2, 3, 4
                ) d
                GROUP BY d.community_id, d.day, d.key
                ORDER BY d.community_id, d.day, d.key
                ON CONFLICT (community_id, dimension, day, key) DO UPDATE
                    SET spend_through = usage_through_add(r.spend_through, excluded.spend_through),
                        calls_through = usage_through_add(r.calls_through, excluded.calls_through);
                INSERT INTO usage_wallet_month_rollups AS r (community_id, month, wallet, spend_through, calls_through)
                SELECT d.community_id, d.month, d.key, usage_through(array_agg(d.slot), array_agg(d.spend), 31), usage_through(array_agg(d.slot), array_agg(d.calls), 31)
                FROM (
                    SELECT u.community_id, date_trunc('month', u.created_at AT TIME ZONE 'UTC')::date AS month, k.key,
                           extract(day FROM u.created_at AT TIME ZONE 'UTC')::int AS slot, sum(k.sign * u.amount_micro)::bigint AS spend, sum(k.sign)::bigint AS calls
                    FROM inserted_wallets w
                    JOIN usage_events u ON u.reservation_id = w.reservation_id
                    CROSS JOIN LATERAL (VALUES (w.wallet, 1), ('', -1)) k (key, sign)
                    WHERE u.community_id IS NOT NULL
                    GROUP BY 1, 2, 3, 4
                ) d
                GROUP BY d.community_id, d.month, d.key
                ORDER BY d.community_id, d.month, d.key
                ON CONFLICT (community_id, month, wallet) DO UPDATE
                    SET spend_through = usage_through_add(r.spend_through, excluded.spend_through),
                        calls_through = usage_through_add(r.calls_through, excluded.calls_through);
                RETURN NULL;
            END
            $fn$;

            -- Backfill from the events already recorded (RLS is forced on the owner too: the platform scope, this
            -- transaction only), then drop the daily rollup nothing reads any more.
            SELECT set_config('freeside.community_id', '*', true);
            CREATE TEMP TABLE usage_backfill ON COMMIT DROP AS
                SELECT u.community_id, u.created_at AT TIME ZONE 'UTC' AS at, coalesce(u.pool_id, 'none') AS pool, coalesce(w.wallet, '') AS wallet, u.amount_micro AS amount
                FROM usage_events u LEFT JOIN reservation_wallets w ON w.reservation_id = u.reservation_id
                WHERE u.community_id IS NOT NULL;
            INSERT INTO usage_hour_rollups (community_id, day, dimension, key, spend_through, calls_through)
            SELECT d.community_id, d.day, d.dimension, d.key, usage_through(array_agg(d.slot), array_agg(d.spend), 24), usage_through(array_agg(d.slot), array_agg(d.calls), 24)
            FROM (
                SELECT b.community_id, b.at::date AS day, k.dimension, k.key, extract(hour FROM b.at)::int + 1 AS slot, sum(b.amount)::bigint AS spend, count(*) AS calls
                FROM usage_backfill b CROSS JOIN LATERAL (VALUES ('pool', b.pool), ('wallet', b.wallet)) k (dimension, key)
                GROUP BY 1, 2, 3, 4, 5
            ) d
            GROUP BY d.community_id, d.dimension, d.day, d.key;
            INSERT INTO usage_wallet_month_rollups (community_id, month, wallet, spend_through, calls_through)
            SELECT d.community_id, d.month, d.wallet, usage_through(array_agg(d.slot), array_agg(d.spend), 31), usage_through(array_agg(d.slot), array_agg(d.calls), 31)
            FROM (
                SELECT b.community_id, date_trunc('month', b.at)::date AS month, b.wallet, extract(day FROM b.at)::int AS slot, sum(b.amount)::bigint AS spend, count(*) AS calls
                FROM usage_backfill b
                GROUP BY 1, 2, 3, 4
            ) d
            GROUP BY d.community_id, d.month, d.wallet;
            DROP TABLE usage_daily_rollups;
            """);
    }
}
