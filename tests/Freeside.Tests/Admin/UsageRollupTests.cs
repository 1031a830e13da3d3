using Freeside.Features.Admin;
using Freeside.Features.Ledger;
using Freeside.Tests.Ledger;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freeside.Tests.Admin;

/// <summary>
/// The usage view reads whole days and hours from the rollups (usage_hour_rollups, usage_wallet_month_rollups) and
/// the window's partial hours from the events; it must give exactly what a live aggregate over usage_events gives,
/// at every window position, per community.
/// </summary>
public sealed class UsageRollupTests(ClockedApp app) : IClassFixture<ClockedApp>
{
    private const string WalletA = "0x1111111111111111111111111111111111111111";
    private const string WalletB = "0x2222222222222222222222222222222222222222";

    private DateTimeOffset _raceTime;

    [Fact]
    public async Task Usage_AcrossDayBoundariesAndCommunities_EqualsTheLiveAggregate()
    {
        var one = await app.CommunityAsync(1_000_000_000);
        var two = await app.CommunityAsync(1_000_000_000);
        var midnight = NextMidnight(app.Clock.GetUtcNow());
        // Each step sets the clock to an absolute time, so the time the test itself takes does not add up.
        At(midnight.AddSeconds(-60));
        await app.ChatSpendAsync(one, WalletA, 100_000, 1_000, "cheap");
        await app.ChatSpendAsync(two, WalletA, 100_000, 2_000, "cheap");
        At(midnight.AddSeconds(-30));
        await app.ChatSpendAsync(one, WalletB, 100_000, 4_000, "reviewer");
        await SpendWithoutWalletAsync(one, 8_000, "cheap");
        At(midnight.AddSeconds(30));
        await app.ChatSpendAsync(one, WalletA, 100_000, 16_000, "reviewer");
        await app.ChatSpendAsync(two, WalletB, 100_000, 32_000, "cheap");
        At(midnight.AddHours(6));
        await app.ChatSpendAsync(one, WalletB, 100_000, 64_000, "fast-code");
        await ShouldMatchLiveAsync(one, two);

        // A month later, `from` just before midnight (the first day's tail read from the events) ...
        At(midnight.AddDays(30).AddSeconds(-45));
        await app.ChatSpendAsync(one, WalletA, 200_000, 128_000, "cheap");
        var month = await ShouldMatchLiveAsync(one, two);
        month.TotalSpendMicro.ShouldBe(4_000 + 8_000 + 16_000 + 64_000 + 128_000);

        // ... just after midnight (the rollup's first day less the events before `from`) ...
        At(midnight.AddDays(30).AddSeconds(45));
        month = await ShouldMatchLiveAsync(one, two);
        month.TotalSpendMicro.ShouldBe(64_000 + 128_000);

        // ... within the hour of a charge (whole hours from the hour rollup, the rest of the hour from the events) ...
        At(midnight.AddDays(30).AddHours(5).AddMinutes(59));
        month = await ShouldMatchLiveAsync(one, two);
        month.TotalSpendMicro.ShouldBe(64_000 + 128_000);
        At(midnight.AddDays(30).AddHours(6).AddMinutes(30));
        month = await ShouldMatchLiveAsync(one, two);
        month.TotalSpendMicro.ShouldBe(128_000);

        // ... and half a day later.
        At(midnight.AddDays(30).AddHours(12));
        month = await ShouldMatchLiveAsync(one, two);
        month.TotalSpendMicro.ShouldBe(128_000);
    }

    [Fact]
    public async Task Usage_WindowsAcrossMonthBoundaries_EqualTheLiveAggregate()
    {
        var one = await app.CommunityAsync(1_000_000_000);
        var two = await app.CommunityAsync(1_000_000_000);
        var now = app.Clock.GetUtcNow().UtcDateTime;
        var nextMonth = new DateTimeOffset(new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1), TimeSpan.Zero);
        if (nextMonth.Month == 2)
        {
            nextMonth = nextMonth.AddMonths(1); // the steps below need a month of 30 days or more
        }

        var monthAfter = nextMonth.AddMonths(1);
        // The last seconds of a month, its last day's morning, the first seconds of the next, the next's last day.
        At(nextMonth.AddDays(-1).AddHours(2));
        await app.ChatSpendAsync(one, WalletA, 100_000, 1_000, "cheap");
        await app.ChatSpendAsync(two, WalletB, 100_000, 2_000, "cheap");
        At(nextMonth.AddSeconds(-20));
        await app.ChatSpendAsync(one, WalletB, 100_000, 4_000, "reviewer");
        await SpendWithoutWalletAsync(one, 8_000, "cheap");
        At(nextMonth.AddSeconds(20));
        await app.ChatSpendAsync(one, WalletA, 100_000, 16_000, "reviewer");
        await ShouldMatchLiveAsync(one, two);
        At(nextMonth.AddDays(1).AddHours(13));
        await app.ChatSpendAsync(one, WalletA, 100_000, 32_000, "fast-code");
        await ShouldMatchLiveAsync(one, two);

        // Month windows whose first day is the previous month's last day: from its morning (the day read from the
        // rollup less the events before `from`) and from its evening (the events after `from` only) ...
        At(nextMonth.AddDays(29).AddHours(1).AddMinutes(40));
        var month = await ShouldMatchLiveAsync(one, two);
        month.TotalSpendMicro.ShouldBe(1_000 + 4_000 + 8_000 + 16_000 + 32_000);
        At(nextMonth.AddDays(29).AddHours(22).AddMinutes(15));
        month = await ShouldMatchLiveAsync(one, two);
        month.TotalSpendMicro.ShouldBe(4_000 + 8_000 + 16_000 + 32_000);

        // ... the next month's last day, and the first seconds of the month after it.
        At(monthAfter.AddMinutes(-30));
        await app.ChatSpendAsync(one, WalletB, 100_000, 64_000, "cheap");
        await ShouldMatchLiveAsync(one, two);
        At(monthAfter.AddSeconds(30));
        await app.ChatSpendAsync(one, WalletB, 100_000, 128_000, "cheap");
        month = await ShouldMatchLiveAsync(one, two);
        month.Wallets.Select(w => w.Wallet?.ToLowerInvariant()).ShouldContain(WalletB);
    }

    [Fact]
    public async Task Rollup_OfOneCommunity_IsInvisibleToAnother()
    {
        var one = await app.CommunityAsync(1_000_000);
        var two = await app.CommunityAsync(1_000_000);
        await app.ChatSpendAsync(one, WalletA, 100_000, 1_000);
        await app.ChatSpendAsync(two, WalletA, 100_000, 1_000);

        await using var connection = new NpgsqlConnection(app.Database.AppConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT set_config('freeside.community_id', @c, false);
            SELECT count(*), count(*) FILTER (WHERE community_id <> @id) FROM usage_hour_rollups;
            SELECT count(*), count(*) FILTER (WHERE community_id <> @id) FROM usage_wallet_month_rollups;
            """, connection);
        command.Parameters.AddWithValue("c", one.Id.ToString());
        command.Parameters.AddWithValue("id", one.Id);
        await using var reader = await command.ExecuteReaderAsync();
        foreach (var (table, rows) in new[] { ("its pool and wallet hour rows", 2L), ("its wallet month row", 1L) })
        {
            await reader.NextResultAsync();
            (await reader.ReadAsync()).ShouldBeTrue();
            reader.GetInt64(0).ShouldBe(rows, table);
            reader.GetInt64(1).ShouldBe(0, table);
        }
    }

    [Fact]
    public async Task Rollup_TwoTransactionsOfOneDayAndKey_BothCount()
    {
        var community = await app.CommunityAsync(1_000_000_000);
        _raceTime = app.Clock.GetUtcNow();
        const int racers = 12;
        var reservations = new List<Guid>();
        for (var i = 0; i < racers + 1; i++)
        {
            var hold = await app.ReserveForWalletAsync(community, WalletA, 1_000);
            hold.IsSuccess.ShouldBeTrue();
            reservations.Add(hold.Value.ReservationId);
        }

        // The first writer creates the day's rows and holds them; the second must wait for it and then add.
        await using (var first = await UsageWriterAsync(community, reservations[0], 100))
        {
            await using var second = await UsageWriterAsync(community, reservations[1], 200, start: false);
            var waiting = second.InsertAsync();
            await WaitUntilBlockedAsync(second.ProcessId);
            await first.CommitAsync();
            await waiting;
            await second.CommitAsync();
        }

        // Then many at once, each its own transaction, all on the same existing rows.
        var writers = new List<UsageWriter>();
        for (var i = 2; i < racers + 1; i++)
        {
            writers.Add(await UsageWriterAsync(community, reservations[i], i, start: false));
        }

        await Task.WhenAll(writers.Select(async w =>
        {
            await w.InsertAsync();
            await w.CommitAsync();
            await w.DisposeAsync();
        }));

        var expected = 100 + 200 + Enumerable.Range(2, racers - 1).Sum();
        var rows = await RollupAsync(community.Id);
        rows.ShouldBe(new[] { ("pool", "cheap", (long)expected, (long)racers + 1), ("wallet", WalletA, expected, racers + 1), ("wallet month", WalletA, expected, racers + 1) });
        (await app.SendAsync(new GetUsage.Query(community.Slug, "day", null))).Value.TotalSpendMicro.ShouldBe(expected);
    }

    [Fact]
    public async Task Rollup_WalletRecordedAfterItsUsageEvent_MovesTheSpendToTheWallet()
    {
        var community = await app.CommunityAsync(1_000_000);
        var reservation = await SpendWithoutWalletAsync(community, 5_000, "cheap");

        await app.Database.ExecuteAsync(
            $"INSERT INTO reservation_wallets (reservation_id, community_id, wallet, created_at) VALUES ('{reservation}', '{community.Id}', '{WalletB}', now())");

        var rows = await RollupAsync(community.Id);
        rows.ShouldBe(new[]
        {
            ("pool", "cheap", 5_000L, 1L), ("wallet", "", 0L, 0L), ("wallet", WalletB, 5_000L, 1L), ("wallet month", "", 0L, 0L), ("wallet month", WalletB, 5_000L, 1L),
        });
        var usage = (await app.SendAsync(new GetUsage.Query(community.Slug, "day", null))).Value;
        usage.Wallets.Single().SpendMicro.ShouldBe(5_000);
        usage.Wallets.Single().Wallet!.ToLowerInvariant().ShouldBe(WalletB);
    }

    /// <summary>
    /// One statement with events in several hours and days of one key (each group's running totals built from
    /// several slots), then a second on the same rows (the totals added element by element): every element of every
    /// rollup row equals the sum recomputed from the events, not only the last one.
    /// </summary>
    [Fact]
    public async Task Rollup_OneStatementAcrossHoursAndDays_EveryRunningTotalEqualsItsEvents()
    {
        var community = await app.CommunityAsync(1_000_000_000);
        var reservations = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            var hold = await app.ReserveForWalletAsync(community, WalletA, 10_000);
            hold.IsSuccess.ShouldBeTrue();
            reservations.Add(hold.Value.ReservationId);
        }

        var day = new DateTimeOffset(2031, 3, 30, 0, 0, 0, TimeSpan.Zero);
        await InsertUsageAsync(community, (reservations[0], day.AddHours(2).AddMinutes(10), 100), (reservations[1], day.AddHours(2).AddMinutes(40), 200),
            (reservations[2], day.AddHours(5), 400), (reservations[3], day.AddDays(1).AddHours(23).AddMinutes(30), 800));
        await InsertUsageAsync(community, (reservations[4], day.AddHours(3).AddMinutes(15), 1_600));

        var events = await app.Database.QueryAsync("SELECT created_at, amount_micro FROM usage_events WHERE community_id = @c",
            r => (At: new DateTimeOffset(r.GetDateTime(0), TimeSpan.Zero), Amount: r.GetInt64(1)), ("c", community.Id));
        events.Count.ShouldBe(5);
        long[] Through(int slots, Func<(DateTimeOffset At, long Amount), int> slot, IEnumerable<(DateTimeOffset At, long Amount)> of, bool calls) =>
            [.. Enumerable.Range(1, slots).Select(i => of.Where(e => slot(e) <= i).Sum(e => calls ? 1 : e.Amount))];

        var hours = await app.Database.QueryAsync(
            "SELECT dimension, key, day, spend_through, calls_through FROM usage_hour_rollups WHERE community_id = @c ORDER BY dimension, day",
            r => (Dimension: r.GetString(0), Key: r.GetString(1), Day: DateOnly.FromDateTime(r.GetDateTime(2)), Spend: r.GetFieldValue<long[]>(3), Calls: r.GetFieldValue<long[]>(4)),
            ("c", community.Id));
        hours.Select(h => (h.Dimension, h.Key, h.Day)).ShouldBe(new[]
        {
            ("pool", "cheap", new DateOnly(2031, 3, 30)), ("pool", "cheap", new DateOnly(2031, 3, 31)),
            ("wallet", WalletA, new DateOnly(2031, 3, 30)), ("wallet", WalletA, new DateOnly(2031, 3, 31)),
        });
        foreach (var row in hours)
        {
            var ofDay = events.Where(e => DateOnly.FromDateTime(e.At.UtcDateTime) == row.Day).ToList();
            row.Spend.ShouldBe(Through(24, e => e.At.UtcDateTime.Hour + 1, ofDay, calls: false), $"{row.Dimension} {row.Day} spend");
            row.Calls.ShouldBe(Through(24, e => e.At.UtcDateTime.Hour + 1, ofDay, calls: true), $"{row.Dimension} {row.Day} calls");
        }

        hours[0].Spend[2].ShouldBe(300);
        hours[0].Spend[3].ShouldBe(1_900);
        hours[0].Spend[23].ShouldBe(2_300);
        var month = await app.Database.QueryAsync(
            "SELECT wallet, spend_through, calls_through FROM usage_wallet_month_rollups WHERE community_id = @c",
            r => (Wallet: r.GetString(0), Spend: r.GetFieldValue<long[]>(1), Calls: r.GetFieldValue<long[]>(2)), ("c", community.Id));
        month.Single().Wallet.ShouldBe(WalletA);
        month.Single().Spend.ShouldBe(Through(31, e => e.At.UtcDateTime.Day, events, calls: false));
        month.Single().Calls.ShouldBe(Through(31, e => e.At.UtcDateTime.Day, events, calls: true));
        month.Single().Spend[29].ShouldBe(2_300);
        month.Single().Spend[30].ShouldBe(3_100);
    }

    /// <summary>
    /// The wallet and message rows check their references with triggers instead of foreign keys to the community's row
    /// (which every concurrent chat locked): a reservation of another community, or a community that does not exist, is
    /// still refused as a foreign-key violation, and the app role can no longer change a community's id under them.
    /// </summary>
    [Fact]
    public async Task WalletAndMessageRows_OfAMissingCommunityOrAnotherCommunitysReservation_AreRefused()
    {
        var one = await app.CommunityAsync(1_000_000);
        var two = await app.CommunityAsync(1_000_000);
        // A hold with no wallet recorded yet (made outside the budget guard).
        var hold = await app.Services.GetRequiredService<LedgerBatcher>().ReserveAsync(new ReserveCredits.Command(one.Account, 1_000, "api:" + Guid.NewGuid().ToString("N")));
        hold.IsSuccess.ShouldBeTrue();
        var missing = Guid.NewGuid();

        async Task<PostgresException> RefusedAsync(Guid scope, string sql)
        {
            await using var connection = new NpgsqlConnection(app.Database.AppConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"SELECT set_config('freeside.community_id', '{scope}', false); {sql}", connection);
            return await Should.ThrowAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
        }

        // The reservation is community one's: recorded as two's, or as a reservation that does not exist, it is refused.
        (await RefusedAsync(two.Id, $"INSERT INTO reservation_wallets (reservation_id, community_id, wallet, created_at) VALUES ('{hold.Value.ReservationId}', '{two.Id}', '{WalletB}', now())"))
            .SqlState.ShouldBe(PostgresErrorCodes.ForeignKeyViolation);
        (await RefusedAsync(one.Id, $"INSERT INTO reservation_wallets (reservation_id, community_id, wallet, created_at) VALUES ('{Guid.NewGuid()}', '{one.Id}', '{WalletB}', now())"))
            .SqlState.ShouldBe(PostgresErrorCodes.ForeignKeyViolation);
        (await RefusedAsync(missing, $"""
            INSERT INTO agent_messages (id, conversation_id, nft_id, community_id, source, author_wallet, role, content, tokens_input, tokens_output, cost_micro, created_at)
            VALUES (gen_random_uuid(), gen_random_uuid(), 'nft', '{missing}', 'web', '{WalletA}', 'user', 'hi', 0, 0, 0, now())
            """)).SqlState.ShouldBe(PostgresErrorCodes.ForeignKeyViolation);
        (await RefusedAsync(one.Id, $"UPDATE communities SET id = gen_random_uuid() WHERE id = '{one.Id}'"))
            .SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);

        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM reservation_wallets WHERE reservation_id = @r", ("r", hold.Value.ReservationId))).ShouldBe(0);
        await app.Database.ExecuteAsync($"""
            SELECT set_config('freeside.community_id', '{one.Id}', false);
            INSERT INTO reservation_wallets (reservation_id, community_id, wallet, created_at) VALUES ('{hold.Value.ReservationId}', '{one.Id}', '{WalletB}', now())
            """, asApp: true);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM reservation_wallets WHERE reservation_id = @r", ("r", hold.Value.ReservationId))).ShouldBe(1);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM agent_messages WHERE community_id = @c", ("c", missing))).ShouldBe(0);
    }

    /// <summary>Usage events of one community in one statement, written the way the ledger writes them (app role, community scope).</summary>
    private async Task InsertUsageAsync(AdminTestKit.TestCommunity community, params (Guid Reservation, DateTimeOffset At, long Amount)[] events)
    {
        await using var connection = new NpgsqlConnection(app.Database.AppConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var scope = new NpgsqlCommand("SELECT set_config('freeside.community_id', @c, true)", connection, transaction))
        {
            scope.Parameters.AddWithValue("c", community.Id.ToString());
            await scope.ExecuteNonQueryAsync();
        }

        await using (var insert = new NpgsqlCommand("""
            INSERT INTO usage_events (id, account_id, community_id, nft_id, pool_id, tokens_input, tokens_output, amount_micro, requested_micro,
                                      reservation_id, finalization_id, billing_method, accounting_mode, conservation_guard_result, created_at)
            SELECT gen_random_uuid(), @a, @c, 'nft', 'cheap', 1, 1, e.amount, e.amount, e.reservation, 'one-statement-' || e.reservation::text, 'reported', 'standard', true, e.at
            FROM unnest(@reservations, @ats, @amounts) AS e (reservation, at, amount)
            """, connection, transaction))
        {
            insert.Parameters.AddWithValue("a", community.Account);
            insert.Parameters.AddWithValue("c", community.Id);
            insert.Parameters.AddWithValue("reservations", events.Select(e => e.Reservation).ToArray());
            insert.Parameters.AddWithValue("ats", events.Select(e => e.At).ToArray());
            insert.Parameters.AddWithValue("amounts", events.Select(e => e.Amount).ToArray());
            (await insert.ExecuteNonQueryAsync()).ShouldBe(events.Length);
        }

        await transaction.CommitAsync();
    }

    private void At(DateTimeOffset time) => app.Clock.Advance(time - app.Clock.GetUtcNow());

    private static DateTimeOffset NextMidnight(DateTimeOffset now) => new(now.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);

    /// <summary>A hold made outside chat (no wallet recorded), then charged.</summary>
    private async Task<Guid> SpendWithoutWalletAsync(AdminTestKit.TestCommunity community, long charged, string pool)
    {
        var batcher = app.Services.GetRequiredService<LedgerBatcher>();
        var hold = await batcher.ReserveAsync(new ReserveCredits.Command(community.Account, 100_000, "api:" + Guid.NewGuid().ToString("N"), AdminTestKit.Nft));
        hold.IsSuccess.ShouldBeTrue();
        (await batcher.FinalizeAsync(new FinalizeReservation.Command(community.Account, hold.Value.ReservationId, charged,
            new Usage(AdminTestKit.Nft, pool, 1, 1), "fin-" + Guid.NewGuid().ToString("N")))).IsSuccess.ShouldBeTrue();
        return hold.Value.ReservationId;
    }

    /// <summary>Every period of both communities equals the live aggregate at the view's own window; returns the first community's month.</summary>
    private async Task<GetUsage.UsageView> ShouldMatchLiveAsync(params AdminTestKit.TestCommunity[] communities)
    {
        GetUsage.UsageView? first = null;
        foreach (var community in communities)
        {
            foreach (var period in GetUsage.Periods)
            {
                var view = (await app.SendAsync(new GetUsage.Query(community.Slug, period, null))).Value;
                var live = await LiveAsync(community.Id, view.From, view.To);
                view.Pools.ShouldBe(live.Pools, $"{period} pools");
                view.Wallets.Select(w => (w.Wallet?.ToLowerInvariant(), w.SpendMicro, w.Calls)).ShouldBe(live.Wallets, $"{period} wallets");
                view.Daily.SelectMany(d => d.Pools.Select(p => (d.Date, p.Key, p.Value))).OrderBy(d => d.Date).ThenBy(d => d.Key, StringComparer.Ordinal)
                    .Select(d => (d.Date, d.Key, d.Value)).ToList().ShouldBe(live.Days, $"{period} days");
                view.TotalSpendMicro.ShouldBe(live.Pools.Sum(p => p.SpendMicro));
                view.Calls.ShouldBe(live.Pools.Sum(p => p.Calls));
                if (community == communities[0] && period == "month")
                {
                    first = view;
                }
            }
        }

        return first!;
    }

    /// <summary>The view's figures computed the way it did before the rollup: straight from usage_events.</summary>
    private async Task<(List<GetUsage.PoolSpend> Pools, List<(string?, long, long)> Wallets, List<(DateOnly, string, long)> Days)> LiveAsync(
        Guid community, DateTimeOffset from, DateTimeOffset now)
    {
        Task<List<T>> ListAsync<T>(string sql, Func<NpgsqlDataReader, T> map) =>
            app.Database.QueryAsync(sql, map, ("c", community), ("from", from), ("now", now));

        var pools = await ListAsync("""
            SELECT coalesce(pool_id, 'none'), coalesce(sum(amount_micro), 0)::bigint, count(*)
            FROM usage_events WHERE community_id = @c AND created_at >= @from AND created_at <= @now
            GROUP BY 1 ORDER BY 2 DESC, 1
            """, r => new GetUsage.PoolSpend(r.GetString(0), r.GetInt64(1), r.GetInt64(2)));
        var wallets = await ListAsync("""
            SELECT w.wallet, coalesce(sum(u.amount_micro), 0)::bigint, count(*)
            FROM usage_events u LEFT JOIN reservation_wallets w ON w.reservation_id = u.reservation_id
            WHERE u.community_id = @c AND u.created_at >= @from AND u.created_at <= @now
            GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50
            """, r => (r.IsDBNull(0) ? null : r.GetString(0), r.GetInt64(1), r.GetInt64(2)));
        var days = await ListAsync("""
            SELECT (created_at AT TIME ZONE 'UTC')::date, coalesce(pool_id, 'none'), coalesce(sum(amount_micro), 0)::bigint
            FROM usage_events WHERE community_id = @c AND created_at >= @from AND created_at <= @now
            GROUP BY 1, 2 ORDER BY 1, 2
            """, r => (DateOnly.FromDateTime(r.GetDateTime(0)), r.GetString(1), r.GetInt64(2)));
        return (pools, wallets, days);
    }

    // Each key's total over its days (the running total through the last hour) and months (through the last day).
    private Task<List<(string, string, long, long)>> RollupAsync(Guid community) => app.Database.QueryAsync("""
        SELECT dimension, key, sum(spend_through[24])::bigint, sum(calls_through[24])::bigint FROM usage_hour_rollups WHERE community_id = @c GROUP BY 1, 2
        UNION ALL
        SELECT 'wallet month', wallet, sum(spend_through[31])::bigint, sum(calls_through[31])::bigint FROM usage_wallet_month_rollups WHERE community_id = @c GROUP BY 1, 2
        ORDER BY 1, 2
        """, r => (r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3)), ("c", community));

    private async Task<UsageWriter> UsageWriterAsync(AdminTestKit.TestCommunity community, Guid reservation, long amount, bool start = true)
    {
        var writer = new UsageWriter(app.Database.AppConnectionString, community, reservation, amount, _raceTime);
        await writer.OpenAsync();
        if (start)
        {
            await writer.InsertAsync();
        }

        return writer;
    }

    private async Task WaitUntilBlockedAsync(int processId)
    {
        for (var i = 0; i < 200; i++)
        {
            if (await app.Database.ScalarAsync<string>("SELECT wait_event_type FROM pg_stat_activity WHERE pid = @p", ("p", processId)) == "Lock")
            {
                return;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException("the second writer never waited for the first");
    }

    /// <summary>One usage event written the way the ledger writes it (app role, community scope), in a transaction left open.</summary>
    private sealed class UsageWriter(string connectionString, AdminTestKit.TestCommunity community, Guid reservation, long amount, DateTimeOffset at) : IAsyncDisposable
    {
        private readonly NpgsqlConnection _connection = new(connectionString);
        private NpgsqlTransaction? _transaction;

        public int ProcessId => _connection.ProcessID;

        public async Task OpenAsync()
        {
            await _connection.OpenAsync();
            _transaction = await _connection.BeginTransactionAsync();
            await using var scope = new NpgsqlCommand("SELECT set_config('freeside.community_id', @c, true)", _connection, _transaction);
            scope.Parameters.AddWithValue("c", community.Id.ToString());
            await scope.ExecuteNonQueryAsync();
        }

        public async Task InsertAsync()
        {
            await using var insert = new NpgsqlCommand("""
                INSERT INTO usage_events (id, account_id, community_id, nft_id, pool_id, tokens_input, tokens_output, amount_micro, requested_micro,
                                          reservation_id, finalization_id, billing_method, accounting_mode, conservation_guard_result, created_at)
                VALUES (gen_random_uuid(), @a, @c, 'nft', 'cheap', 1, 1, @amount, @amount, @r, 'race-' || @r::text, 'reported', 'standard', true, @at)
                """, _connection, _transaction);
            insert.Parameters.AddWithValue("a", community.Account);
            insert.Parameters.AddWithValue("c", community.Id);
            insert.Parameters.AddWithValue("amount", amount);
            insert.Parameters.AddWithValue("r", reservation);
            insert.Parameters.AddWithValue("at", at);
            await insert.ExecuteNonQueryAsync();
        }

        public Task CommitAsync() => _transaction!.CommitAsync();

        public async ValueTask DisposeAsync()
        {
            if (_transaction is not null)
            {
                await _transaction.DisposeAsync();
            }

            await _connection.DisposeAsync();
        }
    }
}
