using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Inference.Migrations;

/// <summary>
/// A chat's stored turn no longer takes a lock on its community's row: the foreign key to <c>communities</c> locked that
/// one row (FOR KEY SHARE) from every concurrent chat of the community, which then queued on the row's page and grew its
/// multixact (see M0026, the same for the wallet row). A row trigger checks, without a lock, that the community exists;
/// the app role can neither delete a community (it has no DELETE on them) nor, from here on, change its id (its UPDATE
/// is narrowed to the other columns), so the check cannot be undone by a concurrent writer.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0027_agent_messages_without_community_lock")]
public sealed class M0027_AgentMessagesWithoutCommunityLock : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            ALTER TABLE agent_messages DROP CONSTRAINT agent_messages_community_id_fkey;
            CREATE FUNCTION agent_messages_check_community() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM communities c WHERE c.id = NEW.community_id) THEN
                    RAISE EXCEPTION 'community % does not exist', NEW.community_id USING ERRCODE = 'foreign_key_violation';
                END IF;
                RETURN NULL;
            END
            $fn$;
            CREATE TRIGGER tr_agent_messages_check_community AFTER INSERT ON agent_messages
                FOR EACH ROW EXECUTE FUNCTION agent_messages_check_community();
            REVOKE UPDATE ON communities FROM freeside_app;
            GRANT UPDATE (slug, name, chain_id, collection_address, default_access_level) ON communities TO freeside_app;
            """);
    }
}
