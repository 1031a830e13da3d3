using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Common.Persistence.Migrations;

/// <summary>
/// A signing key can be revoked (compromised): it leaves the JWKS and stops verifying at once,
/// without the retire grace. The row keeps who-knows-what of it: when, and the admin's reason.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0007_signing_key_revocation")]
public sealed class M0007_SigningKeyRevocation : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            ALTER TABLE jwks_keys
                ADD COLUMN revoked_at timestamptz,
                ADD COLUMN revoked_reason text CHECK (revoked_reason IS NULL OR length(revoked_reason) BETWEEN 1 AND 500),
                ADD CONSTRAINT jwks_keys_revoked_is_retired CHECK (revoked_at IS NULL OR retired_at IS NOT NULL),
                ADD CONSTRAINT jwks_keys_revoked_with_reason CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL));
            GRANT UPDATE (revoked_at, revoked_reason) ON jwks_keys TO freeside_app;
            """);
    }
}
