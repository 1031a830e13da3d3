using Freeside.Features.Common.Persistence;
using Freeside.Features.Identity.Roles;
using Freeside.Features.Ledger;
using Freeside.Tests.Infrastructure;
using Freeside.Tests.Ledger;
using Npgsql;

namespace Freeside.Tests.Common.Persistence;

/// <summary>
/// The RLS penetration test. Tenant tables are found in the catalog (every table with community_id), so a
/// table added later is attacked too, and fails here until it has a forced policy and seeded rows.
/// </summary>
public sealed class RowLevelSecurityTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task TenantTables_EveryOne_HasForcedRowLevelSecurityAndAPolicy()
    {
        var tables = await TenantTables.FindAsync(app.Database);

        tables.ShouldNotBeEmpty();
        tables.ShouldContain("credit_lots");
        tables.ShouldContain("community_admins");
        foreach (var table in tables)
        {
            var state = await app.Database.ScalarAsync<string>(
                """
                SELECT c.relrowsecurity::text || ',' || c.relforcerowsecurity::text || ',' || (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)::text
                    || ',' || (pg_get_userbyid(c.relowner) = @app)::text
                FROM pg_class c WHERE c.oid = @t::regclass
                """, ("t", table), ("app", FreesideDb.AppRole));
            state.ShouldNotBeNull().Split(',').ShouldSatisfyAllConditions(
                s => s[0].ShouldBe("true", $"{table}: row-level security is not enabled"),
                s => s[1].ShouldBe("true", $"{table}: row-level security is not forced"),
                s => int.Parse(s[2], System.Globalization.CultureInfo.InvariantCulture).ShouldBeGreaterThan(0, $"{table}: has no policy"),
                s => s[3].ShouldBe("false", $"{table}: is owned by the app role"));
        }
    }

    [Fact]
    public async Task AppRoleScopedToA_EveryTenantTable_SeesNothingOfBAndIsRefusedEveryWrite()
    {
        var (a, b) = await TenantTables.SeedTwoCommunitiesAsync(app);
        var tables = await TenantTables.FindAsync(app.Database);
        tables.ShouldNotBeEmpty();
        var before = new Dictionary<string, string>();
        foreach (var table in tables)
        {
            (await app.Database.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE community_id = @b", ("b", b)))
                .ShouldBeGreaterThan(0, $"{table}: seed rows of community B in TenantTables.SeedTwoCommunitiesAsync so that it is attacked");
            before[table] = await FingerprintAsync(table, b);
        }

        await using var connection = new NpgsqlConnection(app.Database.AppConnectionString);
        await connection.OpenAsync();
        foreach (var table in tables)
        {
            // Scoped to A, A's own rows are visible: the scope works, so "nothing of B" is not "nothing at all".
            (await InScopeAsync(connection, a, $"SELECT count(*) FROM {table} WHERE community_id = @a", a)).ShouldBeGreaterThan(0L, $"{table}: A does not see its own rows");
            (await InScopeAsync(connection, a, $"SELECT count(*) FROM {table} WHERE community_id IS DISTINCT FROM @a", a)).ShouldBe(0L, $"{table}: A sees rows of others");

            var copyOfB = await app.Database.ScalarAsync<string>($"SELECT row_to_json(t)::text FROM {table} t WHERE community_id = @b LIMIT 1", ("b", b));
            var columns = await InsertableColumnsAsync(table);
            await ShouldBeRefusedAsync(connection, a, table, "insert a row of B",
                $"INSERT INTO {table} ({columns}) SELECT {columns} FROM json_populate_record(NULL::{table}, @json::json)", ("json", copyOfB!));
            await ShouldBeRefusedAsync(connection, a, table, "move A's rows to B",
                $"UPDATE {table} SET community_id = @b WHERE community_id = @a", ("a", a), ("b", b));

            foreach (var statement in await UpdatesAndDeletesOfBAsync(table))
            {
                await ShouldTouchNothingOrBeRefusedAsync(connection, a, table, statement, b);
            }
        }

        foreach (var table in tables)
        {
            (await FingerprintAsync(table, b)).ShouldBe(before[table], $"{table}: B's rows changed");
        }
    }

    private async Task<string> FingerprintAsync(string table, Guid community) =>
        await app.Database.ScalarAsync<string>($"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t WHERE community_id = @c", ("c", community)) ?? "";

    private async Task<string> InsertableColumnsAsync(string table) =>
        (await app.Database.ScalarAsync<string>(
            "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = @t::regclass AND attnum > 0 AND NOT attisdropped AND attidentity <> 'a' AND attgenerated = ''",
            ("t", table)))!;

    /// <summary>An UPDATE of every column the app may update, and a DELETE, each aimed at B's rows.</summary>
    private async Task<List<string>> UpdatesAndDeletesOfBAsync(string table)
    {
        var updatable = await app.Database.ScalarAsync<string>(
            "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = @t::regclass AND attnum > 0 AND NOT attisdropped AND has_column_privilege(@app, attrelid, attnum, 'UPDATE')",
            ("t", table), ("app", FreesideDb.AppRole));
        var statements = (updatable ?? "community_id").Split(',').Select(column => $"UPDATE {table} SET {column} = {column} WHERE community_id = @b").ToList();
        statements.Add($"DELETE FROM {table} WHERE community_id = @b");
        return statements;
    }

    private static async Task<long> InScopeAsync(NpgsqlConnection connection, Guid scope, string sql, Guid a)
    {
        await using var transaction = await connection.BeginTransactionAsync();
        await EnterAsync(connection, transaction, scope);
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("a", a);
        var count = (long)(await command.ExecuteScalarAsync())!;
        await transaction.RollbackAsync();
        return count;
    }

    private static async Task ShouldBeRefusedAsync(NpgsqlConnection connection, Guid scope, string table, string what, string sql, params (string Name, object Value)[] parameters)
    {
        await using var transaction = await connection.BeginTransactionAsync();
        await EnterAsync(connection, transaction, scope);
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        var error = await Should.ThrowAsync<PostgresException>(() => command.ExecuteNonQueryAsync(), $"{table}: could {what}");
        error.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege, $"{table}: {what} failed for another reason: {error.MessageText}");
        await transaction.RollbackAsync();
    }

    private static async Task ShouldTouchNothingOrBeRefusedAsync(NpgsqlConnection connection, Guid scope, string table, string sql, Guid b)
    {
        await using var transaction = await connection.BeginTransactionAsync();
        await EnterAsync(connection, transaction, scope);
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("b", b);
        try
        {
            (await command.ExecuteNonQueryAsync()).ShouldBe(0, $"{table}: `{sql}` reached rows of B");
        }
        catch (PostgresException e)
        {
            e.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege, $"{table}: `{sql}` failed for another reason: {e.MessageText}");
        }

        await transaction.RollbackAsync();
    }

    private static async Task EnterAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid community)
    {
        await using var scope = new NpgsqlCommand("SELECT set_config('freeside.community_id', @c, true)", connection, transaction);
        scope.Parameters.AddWithValue("c", community.ToString());
        await scope.ExecuteNonQueryAsync();
    }
}

/// <summary>As the owner, made a plain (non-superuser) role: FORCE means the policies hold it too.</summary>
public sealed class ForcedRowLevelSecurityTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task TableOwner_NotSuperuser_WithoutScope_SeesNoTenantRow()
    {
        await TenantTables.SeedTwoCommunitiesAsync(app);
        var tables = await TenantTables.FindAsync(app.Database);
        tables.ShouldNotBeEmpty();
        var owner = "rls_owner_" + Guid.NewGuid().ToString("N")[..8];
        await app.Database.ExecuteAsync($"CREATE ROLE {owner} NOSUPERUSER NOBYPASSRLS");
        try
        {
            foreach (var table in tables)
            {
                await app.Database.ExecuteAsync($"ALTER TABLE {table} OWNER TO {owner}");
            }

            await using var connection = new NpgsqlConnection(app.Database.OwnerConnectionString);
            await connection.OpenAsync();
            await using (var become = new NpgsqlCommand($"SET ROLE {owner}", connection))
            {
                await become.ExecuteNonQueryAsync();
            }

            foreach (var table in tables)
            {
                (await app.Database.ScalarAsync<long>($"SELECT count(*) FROM {table}")).ShouldBeGreaterThan(0, $"{table}: nothing seeded");
                await using var count = new NpgsqlCommand($"SELECT count(*) FROM {table}", connection);
                ((long)(await count.ExecuteScalarAsync())!).ShouldBe(0, $"{table}: its owner reads it past the policy");
            }

            await using var reset = new NpgsqlCommand("RESET ROLE", connection);
            await reset.ExecuteNonQueryAsync();
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await app.Database.ExecuteAsync($"REASSIGN OWNED BY {owner} TO CURRENT_USER; DROP OWNED BY {owner}; DROP ROLE {owner}");
        }
    }
}

internal static class TenantTables
{
    public static async Task<List<string>> FindAsync(TestDatabase database)
    {
        var names = await database.ScalarAsync<string>(
            """
            SELECT string_agg(c.relname, ',' ORDER BY c.relname)
            FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'community_id' AND NOT a.attisdropped)
            """);
        return names is null ? [] : [.. names.Split(',')];
    }

    /// <summary>Two communities with a row of their own in every tenant table, through the real commands where there is one.</summary>
    public static async Task<(Guid A, Guid B)> SeedTwoCommunitiesAsync(FreesideApp app)
    {
        var ids = new List<Guid>();
        foreach (var admin in new[] { "0x" + new string('1', 40), "0x" + new string('2', 40) })
        {
            var (slug, account, reservation) = await app.ChargedAsync(funded: 10_000, held: 3_000, charged: 2_000);
            (await app.SendAsync(new ReverseCharge.Command(slug, reservation, 500, "seed", "seed-" + slug))).IsSuccess.ShouldBeTrue();
            (await app.SendAsync(new AddCommunityAdmin.Command(slug, admin))).IsSuccess.ShouldBeTrue();
            var community = await app.Database.ScalarAsync<Guid>("SELECT id FROM communities WHERE slug = @s", ("s", slug));
            // Written only when the guard or an audit finds a broken invariant; no command makes one on purpose.
            await app.Database.ExecuteAsync(
                $"INSERT INTO conservation_violations (account_id, community_id, invariant, source, detail, detected_at) VALUES ('{account}', '{community}', 'C1', 'audit', 'seeded', now())");
            // A refunded purchase's clawback, as PaymentTransitions writes one (the IPN needs the payments host): lot, entries, row.
            var refundedLot = Guid.NewGuid();
            await app.Database.ExecuteAsync($"""
                INSERT INTO credit_lots (id, account_id, community_id, source, source_ref, original, available, reserved, consumed, expired, taken_back, entry_seq, created_at)
                VALUES ('{refundedLot}', '{account}', '{community}', 'purchase', 'seed-refund-{slug}', 1000, 0, 0, 0, 0, 1000, 2, now());
                INSERT INTO ledger_entries (account_id, community_id, lot_id, lot_seq, kind, amount, available_after, reserved_after, consumed_after, expired_after, taken_back_after, created_at)
                VALUES ('{account}', '{community}', '{refundedLot}', 1, 'mint', 1000, 1000, 0, 0, 0, 0, now()),
                       ('{account}', '{community}', '{refundedLot}', 2, 'clawback', 1000, 0, 0, 0, 0, 1000, now());
                INSERT INTO credit_clawbacks (id, account_id, community_id, source_ref, credits_micro, taken_micro, debt_micro, created_at)
                VALUES ('{Guid.NewGuid()}', '{account}', '{community}', 'seed-refund-{slug}', 1000, 1000, 0, now());
                """);
            // Payments are written by the checkout, which needs the NOWPayments fake; a row as it writes one.
            await app.Database.ExecuteAsync(
                $"INSERT INTO payments (id, order_id, account_id, community_id, payer, pack_id, price_micro, credits_micro, status, created_at, updated_at) VALUES ('{Guid.NewGuid()}', 'seed-{slug}', '{account}', '{community}', '{admin}', 'starter', 5000000, 5000000, 'waiting', now(), now())");
            (await app.SendAsync(new Freeside.Features.Inference.RecordExchange.Command(community,
            [
                new Freeside.Features.Inference.AgentMessage
                {
                    Id = Guid.NewGuid(), ConversationId = Guid.NewGuid(), NftId = "eip155:31337/0x" + new string('a', 40) + "/1", CommunityId = community,
                    Source = "web", AuthorWallet = admin, Role = "user", Content = "seed", CreatedAt = DateTimeOffset.UtcNow,
                },
            ]))).IsSuccess.ShouldBeTrue();
            (await app.SendAsync(new Freeside.Features.Inference.SetAgentSettings.Command(slug, 5_000, null))).IsSuccess.ShouldBeTrue();
            (await app.SendAsync(new Freeside.Features.Admin.SetBudget.Command(slug, 1_000_000, 100_000, null))).IsSuccess.ShouldBeTrue();
            await Freeside.Tests.Admin.AdminTestKit.ChatSpendAsync(app, new Freeside.Tests.Admin.AdminTestKit.TestCommunity(slug, community, account), admin, 100, 50);
            // A Discord agent thread, as /my-agent writes one (the command needs a linked wallet and a chain).
            await app.Database.ExecuteAsync($"""
                INSERT INTO discord_agent_threads (id, community_id, guild_id, token_id, holder_user_id, holder_wallet, parent_channel_id, thread_id, name, private, status, created_at)
                VALUES ('{Guid.NewGuid()}', '{community}', '1', '1', '2', '{admin}', '3', '{Random.Shared.NextInt64(1, long.MaxValue)}', 'Agent #1', true, 'open', now())
                """);
            (await app.SendAsync(new Freeside.Features.WebChat.SetEmbedOrigins.Command(slug, ["https://seed.example"], null))).IsSuccess.ShouldBeTrue();
            ids.Add(community);
        }

        return (ids[0], ids[1]);
    }
}
