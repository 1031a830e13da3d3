using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Payments.Migrations;

/// <summary>
/// Payments (a tenant table: a developer's payment has no community and is visible only in the
/// platform scope) and every accepted IPN (platform table, unique per provider + payment + status,
/// so a replayed IPN is stored once).
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0010_payments")]
public sealed class M0010_Payments : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE payments (
                id uuid PRIMARY KEY,
                order_id text NOT NULL CHECK (length(order_id) BETWEEN 1 AND 100),
                account_id uuid NOT NULL REFERENCES credit_accounts (id),
                community_id uuid,
                payer text NOT NULL CHECK (length(payer) BETWEEN 1 AND 100),
                pack_id text NOT NULL CHECK (length(pack_id) BETWEEN 1 AND 40),
                price_micro bigint NOT NULL CHECK (price_micro > 0),
                credits_micro bigint NOT NULL CHECK (credits_micro > 0),
                status text NOT NULL CHECK (status IN ('waiting', 'confirming', 'confirmed', 'sending', 'partially_paid', 'expired', 'failed', 'finished', 'refunded')),
                invoice_id text CHECK (length(invoice_id) BETWEEN 1 AND 100),
                invoice_url text CHECK (length(invoice_url) BETWEEN 1 AND 2000),
                provider_payment_id text CHECK (length(provider_payment_id) BETWEEN 1 AND 100),
                pay_currency text CHECK (length(pay_currency) BETWEEN 1 AND 40),
                paid_crypto_amount text CHECK (length(paid_crypto_amount) BETWEEN 1 AND 100),
                lot_id uuid REFERENCES credit_lots (id),
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                CONSTRAINT ux_payments_order UNIQUE (order_id),
                CONSTRAINT ck_payments_lot_when_finished CHECK (lot_id IS NULL OR status IN ('finished', 'refunded'))
            );
            CREATE UNIQUE INDEX ux_payments_invoice ON payments (invoice_id) WHERE invoice_id IS NOT NULL;
            CREATE INDEX ix_payments_open ON payments (created_at) WHERE status IN ('waiting', 'confirming', 'confirmed', 'sending', 'partially_paid');
            ALTER TABLE payments ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant ON payments USING (freeside_tenant_visible(community_id)) WITH CHECK (freeside_tenant_visible(community_id));
            GRANT SELECT, INSERT ON payments TO freeside_app;
            GRANT UPDATE (status, invoice_id, invoice_url, provider_payment_id, pay_currency, paid_crypto_amount, lot_id, updated_at) ON payments TO freeside_app;

            CREATE TABLE webhook_events (
                id uuid PRIMARY KEY,
                provider text NOT NULL CHECK (provider IN ('nowpayments')),
                provider_payment_id text NOT NULL CHECK (length(provider_payment_id) BETWEEN 1 AND 100),
                status text NOT NULL CHECK (length(status) BETWEEN 1 AND 40),
                order_id text,
                invoice_id text,
                payment_id uuid REFERENCES payments (id),
                body text NOT NULL,
                received_at timestamptz NOT NULL,
                CONSTRAINT ux_webhook_events UNIQUE (provider, provider_payment_id, status)
            );
            CREATE INDEX ix_webhook_events_unmatched ON webhook_events (received_at) WHERE payment_id IS NULL;
            GRANT SELECT, INSERT ON webhook_events TO freeside_app;
            GRANT UPDATE (payment_id) ON webhook_events TO freeside_app;
            """);
    }
}
