using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Developers.Migrations;

/// <summary>
/// Developers, their API keys and their calls. Not tenant tables: a developer belongs to no community
/// (like its credit account), so these rows carry no community_id and only the platform reads them.
/// Keys are never deleted (usage points at them); revocation and rotation set timestamps. Calls are
/// append-only. A sandbox call's usage event has accounting_mode 'sandbox' (amount 0).
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0014_developers")]
public sealed class M0014_Developers : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE developers (
                id uuid PRIMARY KEY,
                wallet text NOT NULL UNIQUE CHECK (wallet ~ '^0x[0-9a-f]{40}$'),
                tier text NOT NULL CHECK (tier IN ('pro', 'enterprise')),
                created_at timestamptz NOT NULL
            );
            GRANT SELECT, INSERT ON developers TO freeside_app;
            GRANT UPDATE (tier) ON developers TO freeside_app;

            CREATE TABLE api_keys (
                id text PRIMARY KEY CHECK (id ~ '^[A-Z2-7]{12}$'),
                developer_id uuid NOT NULL REFERENCES developers (id),
                name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
                mode text NOT NULL CHECK (mode IN ('test', 'live')),
                salt bytea NOT NULL CHECK (length(salt) = 16),
                secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
                pepper_version integer NOT NULL CHECK (pepper_version >= 1),
                requests_per_minute integer NOT NULL CHECK (requests_per_minute BETWEEN 1 AND 1000),
                tokens_per_day integer NOT NULL CHECK (tokens_per_day BETWEEN 1 AND 10000000),
                created_at timestamptz NOT NULL,
                expires_at timestamptz,
                revoked_at timestamptz,
                replaced_by text REFERENCES api_keys (id)
            );
            CREATE INDEX ix_api_keys_developer ON api_keys (developer_id, created_at);
            GRANT SELECT, INSERT ON api_keys TO freeside_app;
            GRANT UPDATE (expires_at, revoked_at, replaced_by) ON api_keys TO freeside_app;

            CREATE TABLE api_calls (
                id uuid PRIMARY KEY,
                developer_id uuid NOT NULL REFERENCES developers (id),
                key_id text NOT NULL REFERENCES api_keys (id),
                mode text NOT NULL CHECK (mode IN ('test', 'live')),
                model text NOT NULL,
                pool_id text NOT NULL,
                reservation_id uuid NOT NULL,
                tokens_input integer NOT NULL CHECK (tokens_input >= 0),
                tokens_output integer NOT NULL CHECK (tokens_output >= 0),
                amount_micro bigint NOT NULL CHECK (amount_micro >= 0),
                billing_mode text NOT NULL CHECK (billing_mode IN ('sandbox', 'live')),
                completed boolean NOT NULL,
                created_at timestamptz NOT NULL,
                CHECK (billing_mode = 'live' OR amount_micro = 0)
            );
            CREATE INDEX ix_api_calls_developer_created ON api_calls (developer_id, created_at);
            CREATE INDEX ix_api_calls_key_created ON api_calls (key_id, created_at);
            GRANT SELECT, INSERT ON api_calls TO freeside_app;
            CREATE TRIGGER tr_api_calls_append_only BEFORE UPDATE OR DELETE ON api_calls
                FOR EACH ROW EXECUTE FUNCTION freeside_refuse_change();

            ALTER TABLE usage_events DROP CONSTRAINT usage_events_accounting_mode_check;
            ALTER TABLE usage_events ADD CONSTRAINT usage_events_accounting_mode_check
                CHECK (accounting_mode IN ('standard', 'byok', 'sandbox'));
            """);
    }
}
