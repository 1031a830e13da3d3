using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Admin.Migrations;

/// <summary>
/// The usage view's wallet dimension as one row per community, UTC month and wallet instead of one per day:
/// a month's 30-day window summed 30 rows per wallet (30,000 for 1,000 wallets, most of the view's time). Each
/// row holds the spend and calls through each day of the month (element d = days 1…d), so any run of days in
/// the month is two subscripts and a window reads at most two rows per wallet. The daily rows keep the pool
/// dimension (a few rows a day); the daily wallet rows are no longer written and are removed. Written by the
/// same statement triggers as before, in the writer's transaction, still one upsert statement per dimension
/// (no extra round trip for chat's finalize). Tenant table (RLS, forced).
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0024_wallet_month_rollups")]
public sealed class M0024_WalletMonthRollups : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            -- wallet: lower-case, '' when the reservation has no wallet. month: the first day of the UTC month of the
            -- usage event's created_at. Days after a month's last day stay equal to its last day.
            CREATE TABLE usage_wallet_month_rollups (
                community_id uuid NOT NULL REFERENCES communities (id),
                month date NOT NULL CHECK (extract(day FROM month) = 1),
                wallet text NOT NULL,
                spend_through bigint[] NOT NULL CHECK (cardinality(spend_through) = 31),
                calls_through bigint[] NOT NULL CHECK (cardinality(calls_through) = 31),
                PRIMARY KEY (community_id, month, wallet)
            );
            ALTER TABLE usage_wallet_month_rollups ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant ON usage_wallet_month_rollups USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON usage_wallet_month_rollups TO freeside_app;
            GRANT UPDATE (spend_through, calls_through) ON usage_wallet_month_rollups TO freeside_app;

            -- The running totals through days 1..31 of amounts on the given days of the month.
            CREATE FUNCTION usage_through(days int[], amounts bigint[]) RETURNS bigint[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
                SELECT array_agg(coalesce((SELECT sum(a) FROM unnest(days, amounts) u (d, a) WHERE u.d <= i), 0)::bigint ORDER BY i)
                FROM generate_series(1, 31) i
            $fn$;
            CREATE FUNCTION usage_through_add(a bigint[], b bigint[]) RETURNS bigint[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
                SELECT array_agg(x + y ORDER BY i) FROM unnest(a, b) WITH ORDINALITY u (x, y, i)
            $fn$;
            GRANT EXECUTE ON FUNCTION usage_through(int[], bigint[]), usage_through_add(bigint[], bigint[]) TO freeside_app;

            -- As before, concurrent writers of one key both count (the upsert adds under the row lock), and rows are
            -- upserted in key order, pool rows before wallet rows, so two statements cannot deadlock on each other.
            CREATE OR REPLACE FUNCTION usage_daily_rollups_add_events() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                INSERT INTO usage_daily_rollups AS r (community_id, day, dimension, key, spend_micro, calls)
                SELECT n.community_id, (n.created_at AT TIME ZONE 'UTC')::date, 'pool', coalesce(n.pool_id, 'none'), sum(n.amount_micro), count(*)
                FROM inserted_usage n WHERE n.community_id IS NOT NULL
                GROUP BY 1, 2, 3, 4
                ORDER BY 1, 2, 3, 4
                ON CONFLICT (community_id, dimension, day, key) DO UPDATE
                    SET spend_micro = r.spend_micro + excluded.spend_micro, calls = r.calls + excluded.calls;
                INSERT INTO usage_wallet_month_rollups AS r (community_id, month, wallet, spend_through, calls_through)
                SELECT d.community_id, d.month, d.wallet, usage_through(array_agg(d.day), array_agg(d.spend)), usage_through(array_agg(d.day), array_agg(d.calls))
                FROM (
                    SELECT n.community_id, date_trunc('month', n.created_at AT TIME ZONE 'UTC')::date AS month, coalesce(w.wallet, '') AS wallet,
                           extract(day FROM n.created_at AT TIME ZONE 'UTC')::int AS day, sum(n.amount_micro)::bigint AS spend, count(*) AS calls
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
            -- spend from '' to the wallet.
            CREATE OR REPLACE FUNCTION usage_daily_rollups_attribute_wallets() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                INSERT INTO usage_wallet_month_rollups AS r (community_id, month, wallet, spend_through, calls_through)
                SELECT d.community_id, d.month, d.wallet, usage_through(array_agg(d.day), array_agg(d.spend)), usage_through(array_agg(d.day), array_agg(d.calls))
                FROM (
                    SELECT u.community_id, date_trunc('month', u.created_at AT TIME ZONE 'UTC')::date AS month, k.key AS wallet,
                           extract(day FROM u.created_at AT TIME ZONE 'UTC')::int AS day, sum(k.sign * u.amount_micro)::bigint AS spend, sum(k.sign)::bigint AS calls
                    FROM inserted_wallets w
                    JOIN usage_events u ON u.reservation_id = w.reservation_id
                    CROSS JOIN LATERAL (VALUES (w.wallet, 1), ('', -1)) k (key, sign)
                    WHERE u.community_id IS NOT NULL
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

            -- Backfill from the events already recorded, and drop the daily wallet rows nothing reads any more
            -- (RLS is forced on the owner too: the platform scope, this transaction only).
            SELECT set_config('freeside.community_id', '*', true);
            INSERT INTO usage_wallet_month_rollups (community_id, month, wallet, spend_through, calls_through)
            SELECT d.community_id, d.month, d.wallet, usage_through(array_agg(d.day), array_agg(d.spend)), usage_through(array_agg(d.day), array_agg(d.calls))
            FROM (
                SELECT u.community_id, date_trunc('month', u.created_at AT TIME ZONE 'UTC')::date AS month, coalesce(w.wallet, '') AS wallet,
                       extract(day FROM u.created_at AT TIME ZONE 'UTC')::int AS day, sum(u.amount_micro)::bigint AS spend, count(*) AS calls
                FROM usage_events u LEFT JOIN reservation_wallets w ON w.reservation_id = u.reservation_id
                WHERE u.community_id IS NOT NULL
                GROUP BY 1, 2, 3, 4
            ) d
            GROUP BY d.community_id, d.month, d.wallet;
            DELETE FROM usage_daily_rollups WHERE dimension = 'wallet';
            ALTER TABLE usage_daily_rollups DROP CONSTRAINT usage_daily_rollups_dimension_check, ADD CONSTRAINT usage_daily_rollups_dimension_check CHECK (dimension = 'pool');
            """);
    }
}
