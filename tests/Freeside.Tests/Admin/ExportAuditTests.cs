using System.Net;
using System.Text.Json;
using Freeside.Features.Admin;
using Freeside.Features.Ledger;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;
using Freeside.Tests.Ledger;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Admin;

/// <summary>The audit export replays to the ledger's balances, resumes, and shows wallets only as EIP-55 addresses.</summary>
public sealed class ExportAuditTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private static readonly string WalletA = TestWallet.Third.Address.ToChecksumString().ToLowerInvariant();
    private static readonly string WalletB = TestWallet.Demo.Address.ToChecksumString().ToLowerInvariant();

    /// <summary>Grants, charged chats on two pools and two wallets, a release, a reversal and a hold still pending.</summary>
    private async Task<AdminTestKit.TestCommunity> BusyCommunityAsync()
    {
        var community = await app.CommunityAsync(1_000_000);
        await app.GrantAsync(community.Slug, 500_000);
        var first = await app.ChatSpendAsync(community, WalletA, 100_000, 40_000, "cheap");
        await app.ChatSpendAsync(community, WalletB, 200_000, 200_000, "reviewer");
        await app.ChatSpendAsync(community, WalletA, 900_000, 850_000, "reviewer");
        var released = await app.ReserveForWalletAsync(community, WalletB, 70_000);
        (await app.Services.GetRequiredService<LedgerBatcher>().ReleaseAsync(new ReleaseReservation.Command(community.Account, released.Value.ReservationId, "caller left")))
            .IsSuccess.ShouldBeTrue();
        (await app.SendAsync(new ReverseCharge.Command(community.Slug, first, 10_000, "cut off", "rev-" + community.Slug))).IsSuccess.ShouldBeTrue();
        (await app.ReserveForWalletAsync(community, WalletA, 30_000)).IsSuccess.ShouldBeTrue();
        return community;
    }

    private async Task<string> ExportAsync(string slug, string query = "format=jsonl")
    {
        var response = await app.CreateAdminClient().GetAsync($"/api/v1/admin/communities/{slug}/audit?{query}");
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return await response.Content.ReadAsStringAsync();
    }

    private static List<JsonElement> Lines(string jsonl) =>
        [.. jsonl.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement.Clone())];

    private sealed class LotColumns
    {
        public long Available;
        public long Reserved;
        public long Consumed;
        public long Expired;
        public long TakenBack;
    }

    /// <summary>What one entry does to its lot's columns (docs/ledger.md, entry kinds).</summary>
    private static void Apply(LotColumns lot, string kind, long amount)
    {
        switch (kind)
        {
            case "mint": lot.Available += amount; break;
            case "hold": lot.Available -= amount; lot.Reserved += amount; break;
            case "release" or "expire_hold": lot.Reserved -= amount; lot.Available += amount; break;
            case "charge": lot.Reserved -= amount; lot.Consumed += amount; break;
            case "expire": lot.Available -= amount; lot.Expired += amount; break;
            case "reverse": lot.Consumed -= amount; lot.Available += amount; break;
            case "clawback" or "repay": lot.Available -= amount; lot.TakenBack += amount; break;
            default: throw new InvalidOperationException("unknown entry kind " + kind);
        }
    }

    [Fact]
    public async Task ExportJsonl_ReplayedFromNothing_GivesTheBalancesTheLedgerReports()
    {
        var community = await BusyCommunityAsync();

        var rows = Lines(await ExportAsync(community.Slug));

        rows.Count.ShouldBe((int)await app.Database.ScalarAsync<long>("SELECT count(*) FROM ledger_entries WHERE community_id = @c", ("c", community.Id)));
        var lots = new Dictionary<Guid, LotColumns>();
        long balance = 0;
        long previousEntry = 0;
        foreach (var row in rows)
        {
            var entry = row.GetProperty("entry_id").GetInt64();
            entry.ShouldBeGreaterThan(previousEntry);
            previousEntry = entry;
            var kind = row.GetProperty("kind").GetString()!;
            var amount = row.GetProperty("amount_micro").GetInt64();
            var lot = lots.TryGetValue(row.GetProperty("lot_id").GetGuid(), out var known) ? known : lots[row.GetProperty("lot_id").GetGuid()] = new LotColumns();
            var before = lot.Available;
            Apply(lot, kind, amount);
            row.GetProperty("balance_before_micro").GetInt64().ShouldBe(balance, $"entry {entry}");
            balance += lot.Available - before;
            row.GetProperty("balance_after_micro").GetInt64().ShouldBe(balance, $"entry {entry}");
            row.GetProperty("operation").GetString().ShouldBe(ExportAudit.Operation(kind));
            row.GetProperty("conservation").GetString().ShouldBe("passed");
        }

        foreach (var (id, replayed) in lots)
        {
            var stored = await app.Database.ScalarAsync<string>(
                "SELECT concat_ws(',', available, reserved, consumed, expired, taken_back) FROM credit_lots WHERE id = @l", ("l", id));
            stored.ShouldBe($"{replayed.Available},{replayed.Reserved},{replayed.Consumed},{replayed.Expired},{replayed.TakenBack}", $"lot {id}");
        }

        var reported = await app.SendAsync(new GetBalance.Query(community.Slug));
        balance.ShouldBe(reported.Value.AvailableMicro);
        lots.Values.Sum(l => l.Reserved).ShouldBe(reported.Value.ReservedMicro);
        lots.Values.Sum(l => l.Consumed).ShouldBe(reported.Value.ConsumedMicro);
        reported.Value.ReservedMicro.ShouldBe(30_000);
        reported.Value.ConsumedMicro.ShouldBe(40_000 + 200_000 + 850_000 - 10_000);
        rows.Select(r => r.GetProperty("operation").GetString()).Distinct().Order()
            .ShouldBe(["charge", "hold", "mint", "release", "reversal"]);
    }

    [Fact]
    public async Task ExportJsonl_Rows_CarryPoolNftChecksummedWalletAndIds()
    {
        var community = await BusyCommunityAsync();

        var rows = Lines(await ExportAsync(community.Slug));

        var charges = rows.Where(r => r.GetProperty("kind").GetString() == "charge").ToList();
        charges.Select(c => c.GetProperty("pool").GetString()).Distinct().Order().ShouldBe(["cheap", "reviewer"]);
        charges.ShouldAllBe(c => c.GetProperty("nft").GetString() == AdminTestKit.Nft);
        charges.ShouldAllBe(c => c.GetProperty("finalization_id").GetString()!.StartsWith("fin-"));
        rows.Where(r => r.GetProperty("reservation_id").ValueKind != JsonValueKind.Null)
            .Select(r => r.GetProperty("wallet").GetString()).Distinct().Order()
            .ShouldBe(new[] { TestWallet.Third.Address.ToChecksumString(), TestWallet.Demo.Address.ToChecksumString() }.Order());
        rows.Where(r => r.GetProperty("kind").GetString() == "mint").ShouldAllBe(r => r.GetProperty("wallet").ValueKind == JsonValueKind.Null);
    }

    [Fact]
    public async Task ExportJsonl_ResumedAfterAnEntry_ContinuesWithTheSameRowsAndBalances()
    {
        var community = await BusyCommunityAsync();
        var whole = (await ExportAsync(community.Slug)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var cut = JsonDocument.Parse(whole[4]).RootElement.GetProperty("entry_id").GetInt64();

        var rest = (await ExportAsync(community.Slug, $"format=jsonl&since={cut}")).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        rest.ShouldBe(whole[5..]);
    }

    [Fact]
    public async Task ExportJsonl_SinceAndUntilTimes_SelectTheRowsInBetween()
    {
        var community = await BusyCommunityAsync();
        var whole = Lines(await ExportAsync(community.Slug));
        var last = whole[^1].GetProperty("timestamp").GetString()!;

        var none = await ExportAsync(community.Slug, "since=" + Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(1).ToString("O")));
        var untilLast = Lines(await ExportAsync(community.Slug, "until=" + Uri.EscapeDataString(last)));

        none.ShouldBeEmpty();
        untilLast.Count.ShouldBe(whole.Count(r => string.CompareOrdinal(r.GetProperty("timestamp").GetString(), last) < 0));
        untilLast.Count.ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task ExportCsv_SameRowsAsJsonl_WithHeader()
    {
        var community = await BusyCommunityAsync();
        var jsonl = Lines(await ExportAsync(community.Slug));

        var csv = (await ExportAsync(community.Slug, "format=csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        csv[0].ShouldBe(string.Join(',', ExportAudit.Columns));
        csv.Length.ShouldBe(jsonl.Count + 1);
        for (var i = 0; i < jsonl.Count; i++)
        {
            var cells = csv[i + 1].Split(',');
            cells[0].ShouldBe(jsonl[i].GetProperty("entry_id").GetInt64().ToString());
            cells[8].ShouldBe(jsonl[i].GetProperty("balance_before_micro").GetInt64().ToString());
            cells[9].ShouldBe(jsonl[i].GetProperty("balance_after_micro").GetInt64().ToString());
            cells[7].ShouldBe(jsonl[i].GetProperty("wallet").GetString() ?? "");
        }
    }

    [Fact]
    public async Task Export_OfOneCommunity_HasNoRowOfAnother()
    {
        var mine = await BusyCommunityAsync();
        var other = await BusyCommunityAsync();
        var otherIds = await app.Database.ScalarAsync<string>(
            "SELECT string_agg(id::text, ',') FROM (SELECT id FROM credit_lots WHERE community_id = @c UNION ALL SELECT id FROM credit_reservations WHERE community_id = @c) t",
            ("c", other.Id));

        var jsonl = await ExportAsync(mine.Slug);
        var csv = await ExportAsync(mine.Slug, "format=csv");

        foreach (var id in otherIds!.Split(','))
        {
            jsonl.ShouldNotContain(id);
            csv.ShouldNotContain(id);
        }

        Lines(jsonl).Count.ShouldBe((int)await app.Database.ScalarAsync<long>("SELECT count(*) FROM ledger_entries WHERE community_id = @c", ("c", mine.Id)));
    }

    /// <summary>The export's SQL before it streamed the balance from one ordered scan: window functions over the whole history.</summary>
    private const string ReferenceSql = """
        WITH moved AS (
            SELECT e.*, e.available_after - coalesce(lag(e.available_after) OVER (PARTITION BY e.lot_id ORDER BY e.lot_seq), 0) AS delta
            FROM ledger_entries e
            WHERE e.community_id = @c AND (@until::timestamptz IS NULL OR e.created_at < @until::timestamptz)
        ), running AS (
            SELECT m.*, sum(m.delta) OVER (PARTITION BY m.account_id ORDER BY m.id ROWS UNBOUNDED PRECEDING)::bigint AS balance_after
            FROM moved m
        )
        SELECT b.id, to_char(b.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), b.kind, b.amount, u.pool_id, r.nft_id,
               coalesce(w.wallet, p.payer), b.balance_after - b.delta, b.balance_after,
               b.lot_id, l.source, b.reservation_id, r.finalization_id, coalesce(u.conservation_guard_result, true)
        FROM running b
        JOIN credit_lots l ON l.id = b.lot_id
        LEFT JOIN credit_reservations r ON r.id = b.reservation_id
        LEFT JOIN usage_events u ON u.reservation_id = b.reservation_id
        LEFT JOIN reservation_wallets w ON w.reservation_id = b.reservation_id
        LEFT JOIN payments p ON p.lot_id = b.lot_id AND b.reservation_id IS NULL
        WHERE b.id > @after AND (@since::timestamptz IS NULL OR b.created_at >= @since::timestamptz)
        ORDER BY b.id
        """;

    /// <summary>The exact JSONL and CSV lines the ledger's rows make, built field by field from <see cref="ReferenceSql"/>.</summary>
    private async Task<(List<string> Jsonl, List<string> Csv)> ReferenceAsync(Guid community, long after = 0, DateTimeOffset? since = null)
    {
        await using var connection = new Npgsql.NpgsqlConnection(app.Database.OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(ReferenceSql, connection);
        command.Parameters.AddWithValue("c", community);
        command.Parameters.AddWithValue("after", after);
        command.Parameters.Add(new Npgsql.NpgsqlParameter<DateTimeOffset?>("since", since) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new Npgsql.NpgsqlParameter<DateTimeOffset?>("until", null) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        await using var reader = await command.ExecuteReaderAsync();
        var jsonl = new List<string>();
        var csv = new List<string> { string.Join(',', ExportAudit.Columns) };
        static string Json(string? value) => value is null ? "null" : "\"" + value + "\"";
        static string? Wallet(string? stored) =>
            stored is not null && Freeside.Features.Common.Ethereum.EthereumAddress.TryParse(stored, out var address) ? address.ToChecksumString() : null;
        while (await reader.ReadAsync())
        {
            string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetValue(i).ToString();
            var (id, at, kind, amount, pool, nft, wallet) = (reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), Text(4), Text(5), Wallet(Text(6)));
            var (before, afterBalance, lot, source, reservation, finalization) = (reader.GetInt64(7), reader.GetInt64(8), reader.GetGuid(9), reader.GetString(10), Text(11), Text(12));
            var conservation = reader.GetBoolean(13) ? "passed" : "failed";
            jsonl.Add($"{{\"entry_id\":{id},\"timestamp\":\"{at}\",\"operation\":\"{ExportAudit.Operation(kind)}\",\"kind\":\"{kind}\",\"amount_micro\":{amount}," +
                $"\"pool\":{Json(pool)},\"nft\":{Json(nft)},\"wallet\":{Json(wallet)},\"balance_before_micro\":{before},\"balance_after_micro\":{afterBalance}," +
                $"\"lot_id\":\"{lot}\",\"lot_source\":\"{source}\",\"reservation_id\":{Json(reservation)},\"finalization_id\":{Json(finalization)},\"conservation\":\"{conservation}\"}}");
            csv.Add(string.Join(',', id, at, ExportAudit.Operation(kind), kind, amount, pool, nft, wallet, before, afterBalance, lot, source, reservation, finalization, conservation));
        }

        return (jsonl, csv);
    }

    [Fact]
    public async Task Export_EveryLine_EqualsTheLedgerRowsFieldByField()
    {
        var community = await BusyCommunityAsync();
        var (jsonl, csv) = await ReferenceAsync(community.Id);
        jsonl.Count.ShouldBeGreaterThan(10);
        var cut = long.Parse(jsonl[6].Split(',')[0].Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        var sinceText = JsonDocument.Parse(jsonl[8]).RootElement.GetProperty("timestamp").GetString()!;

        (await ExportAsync(community.Slug)).ShouldBe(string.Join("", jsonl.Select(l => l + "\n")));
        (await ExportAsync(community.Slug, "format=csv")).ShouldBe(string.Join("", csv.Select(l => l + "\n")));
        (await ExportAsync(community.Slug, $"since={cut}")).ShouldBe(string.Join("", (await ReferenceAsync(community.Id, after: cut)).Jsonl.Select(l => l + "\n")));
        var since = DateTimeOffset.Parse(sinceText, System.Globalization.CultureInfo.InvariantCulture);
        (await ExportAsync(community.Slug, "format=csv&since=" + Uri.EscapeDataString(sinceText)))
            .ShouldBe(string.Join("", (await ReferenceAsync(community.Id, since: since)).Csv.Select(l => l + "\n")));
    }

    [Theory]
    [InlineData("format=xml", "format")]
    [InlineData("since=yesterday", "since")]
    [InlineData("until=12", "until")]
    public async Task Export_BadParameter_Is400NamingIt(string query, string field)
    {
        var community = await app.CommunityAsync(1_000);

        var response = await app.CreateAdminClient().GetAsync($"/api/v1/admin/communities/{community.Slug}/audit?{query}");

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain(field);
    }

    [Theory]
    [InlineData("mint", "mint")]
    [InlineData("expire_hold", "expiry")]
    [InlineData("expire", "expiry")]
    [InlineData("reverse", "reversal")]
    [InlineData("clawback", "refund")]
    [InlineData("repay", "debt")]
    public void Operation_EveryEntryKind_HasTheIssuesName(string kind, string operation) => ExportAudit.Operation(kind).ShouldBe(operation);
}
