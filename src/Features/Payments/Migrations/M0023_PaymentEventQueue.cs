using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Payments.Migrations;

/// <summary>
/// webhook_events becomes the payments' inbox (docs/payments.md, "Applying IPNs"): the webhook stores a
/// matched IPN pending (applied_at NULL) and answers; the applier marks it applied in the transaction
/// that applies it, with what it did (an unmatched or unknown-status event needs nothing and is stored
/// settled). Events stored before this migration were applied as they arrived.
/// The foreign key to payments goes: checking it took a KEY SHARE lock on the payment row for every IPN
/// (a write to that row, and a wait behind anyone holding it FOR UPDATE), which is exactly what the
/// webhook must not do. payment_id is still only ever a payment's id: the insert reads it from payments
/// in the same statement, and the app role cannot delete payments.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0023_payment_event_queue")]
public sealed class M0023_PaymentEventQueue : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            ALTER TABLE webhook_events
                ADD COLUMN applied_at timestamptz,
                ADD COLUMN outcome text CHECK (outcome IN ('applied', 'ignored', 'unmatched'));
            UPDATE webhook_events SET applied_at = received_at, outcome = CASE WHEN payment_id IS NULL THEN 'unmatched' ELSE 'applied' END;
            ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_payment_id_fkey;
            ALTER TABLE webhook_events ADD CONSTRAINT ck_webhook_events_outcome_when_applied CHECK ((applied_at IS NULL) = (outcome IS NULL));
            CREATE INDEX ix_webhook_events_pending ON webhook_events (payment_id, received_at) WHERE applied_at IS NULL;
            GRANT UPDATE (applied_at, outcome) ON webhook_events TO freeside_app;
            """);
    }
}
