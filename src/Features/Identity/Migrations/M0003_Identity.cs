using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Identity.Migrations;

[DbContext(typeof(FreesideDb))]
[Migration("0003_identity")]
public sealed class M0003_Identity : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            -- ES256 signing keys. The private scalar is AES-256-GCM ciphertext under FREESIDE_KEY_ENCRYPTION_KEY
            -- (nonce || ciphertext || tag, the kid as associated data); kek_id names the KEK it was sealed with.
            CREATE TABLE jwks_keys (
                kid text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{43}$'),
                created_at timestamptz NOT NULL,
                activated_at timestamptz NOT NULL,
                retired_at timestamptz,
                public_jwk text NOT NULL,
                private_key_ciphertext bytea NOT NULL CHECK (length(private_key_ciphertext) = 12 + 32 + 16),
                kek_id text NOT NULL,
                CHECK (retired_at IS NULL OR retired_at >= activated_at)
            );
            CREATE UNIQUE INDEX ux_jwks_keys_single_active ON jwks_keys ((true)) WHERE retired_at IS NULL;
            GRANT SELECT, INSERT ON jwks_keys TO freeside_app;
            GRANT UPDATE (retired_at) ON jwks_keys TO freeside_app;

            -- SIWE nonces: the system of record for single use (Redis only fronts it).
            CREATE TABLE siwe_nonces (
                nonce text PRIMARY KEY CHECK (nonce ~ '^[0-9a-f]{32}$'),
                issued_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                cached_in_redis boolean NOT NULL,
                consumed_at timestamptz
            );
            CREATE INDEX ix_siwe_nonces_expires_at ON siwe_nonces (expires_at);
            GRANT SELECT, INSERT, DELETE ON siwe_nonces TO freeside_app;
            GRANT UPDATE (consumed_at) ON siwe_nonces TO freeside_app;

            -- Logged-out session tokens, kept until the token would have expired anyway.
            CREATE TABLE revoked_sessions (
                jti uuid PRIMARY KEY,
                revoked_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL
            );
            CREATE INDEX ix_revoked_sessions_expires_at ON revoked_sessions (expires_at);
            GRANT SELECT, INSERT, DELETE ON revoked_sessions TO freeside_app;

            CREATE TABLE community_admins (
                community_id uuid NOT NULL REFERENCES communities (id),
                address text NOT NULL CHECK (address ~ '^0x[0-9a-f]{40}$'),
                added_at timestamptz NOT NULL,
                CONSTRAINT ux_community_admins_address PRIMARY KEY (community_id, address)
            );
            CREATE INDEX ix_community_admins_address ON community_admins (address);
            ALTER TABLE community_admins ENABLE ROW LEVEL SECURITY;
            CREATE POLICY community_admins_tenant ON community_admins
                USING (freeside_tenant_visible(community_id))
                WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT, DELETE ON community_admins TO freeside_app;
            """);
    }
}
