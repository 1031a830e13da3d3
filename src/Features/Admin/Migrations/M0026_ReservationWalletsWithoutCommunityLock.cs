using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Admin.Migrations;

/// <summary>
/// A chat's wallet row no longer takes a lock on its community's row. The foreign key to <c>communities</c> made every
/// insert lock that one row (FOR KEY SHARE, written into the row's page), so a community's concurrent chats queued on
/// the page's lock and grew the row's multixact with every new locker: in <c>bench inference</c>'s 256 concurrent chats
/// this insert, which is on the way to the first token, averaged 2.1 ms, waiting on <c>LWLock:BufferContent</c>.
/// A row trigger checks instead, after the row-level security check and without a lock, that the reservation exists and is the community's (stronger than the
/// key it replaces, which did not tie the two). A lock is not needed: the app role can delete neither communities nor
/// reservations (it has no DELETE on them) and ledger rows are never deleted.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0026_reservation_wallets_without_community_lock")]
public sealed class M0026_ReservationWalletsWithoutCommunityLock : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            ALTER TABLE reservation_wallets DROP CONSTRAINT reservation_wallets_community_id_fkey;
            CREATE FUNCTION reservation_wallets_check_reservation() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM credit_reservations r WHERE r.id = NEW.reservation_id AND r.community_id = NEW.community_id) THEN
                    RAISE EXCEPTION 'reservation % of community % does not exist', NEW.reservation_id, NEW.community_id
                        USING ERRCODE = 'foreign_key_violation';
                END IF;
                RETURN NULL;
            END
            $fn$;
            CREATE TRIGGER tr_reservation_wallets_check_reservation AFTER INSERT ON reservation_wallets
                FOR EACH ROW EXECUTE FUNCTION reservation_wallets_check_reservation();
            """);
    }
}
