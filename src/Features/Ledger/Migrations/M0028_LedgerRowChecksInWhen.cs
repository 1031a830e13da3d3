using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Ledger.Migrations;

/// <summary>
/// The two per-row ledger triggers test their condition in the trigger's <c>WHEN</c> clause, which PostgreSQL evaluates
/// itself, instead of in a PL/pgSQL call made for every row: a reservation's settlement and every lot update each
/// called PL/pgSQL to find nothing wrong. The functions now only raise, so they run only for a row that breaks the rule.
/// The same rules at the same moments: a reservation leaves 'pending' once (C3, BEFORE UPDATE); a lot conserves
/// (C1), checked at commit for every version of the row written (an AFTER trigger's WHEN is tested when the row is
/// written, and the deferred event it queues raises at commit, so the conservation guard still reports a broken sum first).
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0028_ledger_row_checks_in_when")]
public sealed class M0028_LedgerRowChecksInWhen : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            DROP TRIGGER tr_credit_reservations_settle_once ON credit_reservations;
            CREATE TRIGGER tr_credit_reservations_settle_once BEFORE UPDATE ON credit_reservations
                FOR EACH ROW WHEN (OLD.status <> 'pending') EXECUTE FUNCTION credit_reservations_settle_once();

            DROP TRIGGER tr_credit_lots_conserved ON credit_lots;
            CREATE CONSTRAINT TRIGGER tr_credit_lots_conserved AFTER INSERT OR UPDATE ON credit_lots
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                WHEN (NEW.available + NEW.reserved + NEW.consumed + NEW.expired + NEW.taken_back <> NEW.original)
                EXECUTE FUNCTION credit_lots_conserved();
            """);
    }
}
