using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Ledger.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Freeside.Features.Ledger;

/// <summary>The conservation invariants, numbered as in docs/ledger.md.</summary>
public static class LedgerInvariants
{
    public static readonly IReadOnlyList<(string Id, string Description)> All =
    [
        ("C1", "Per lot: available + reserved + consumed + expired + taken_back = original, each >= 0, original equal to its mint."),
        ("C2", "Per account: the sum of lots' reserved equals the sum of pending reservations' holds (and per lot, the holds on it)."),
        ("C3", "A reservation is terminal once finalized, released or expired; its entries match its hold; charged <= held; its reversals match their entries and never exceed the charge."),
        ("C4", "Per account: the sum of usage_events.amount_micro equals the sum charged by finalized reservations, and that sum less the reversals equals the lots' consumed."),
        ("C5", "Ledger entries replay, in order, to every lot's current columns."),
        ("C6", "Per account: debt = the clawbacks' debts less the repay entries, >= 0; the clawbacks' takings equal the clawback entries; per clawback, taken + debt = its purchase's credits."),
    ];

    internal static async Task<List<InvariantViolation>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderPreparedAsync(cancellationToken);
        return await ReadAsync(reader, cancellationToken);
    }

    internal static async Task<List<InvariantViolation>> ReadAsync(System.Data.Common.DbDataReader reader, CancellationToken cancellationToken)
    {
        var violations = new List<InvariantViolation>();
        while (await reader.ReadAsync(cancellationToken))
        {
            violations.Add(new InvariantViolation(reader.GetString(0), reader.GetGuid(1), reader.GetString(2)));
        }

        return violations;
    }

    /// <summary>The parameters of <see cref="Incremental"/>: the accounts, the lots with how many entries each got, the reservations.</summary>
    internal static void BindIncremental(NpgsqlParameterCollection parameters, IReadOnlyCollection<Guid> accounts, IReadOnlyDictionary<Guid, int> lots,
        IReadOnlyCollection<Guid> reservations)
    {
        parameters.AddWithValue("accounts", accounts.ToArray());
        parameters.AddWithValue("lots", lots.Keys.ToArray());
        parameters.AddWithValue("counts", lots.Values.ToArray());
        parameters.AddWithValue("reservations", reservations.ToArray());
    }

    internal static NpgsqlCommand Command(FreesideDb db, string sql)
    {
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        return new NpgsqlCommand(sql, connection, db.Database.CurrentTransaction?.GetDbTransaction() as NpgsqlTransaction);
    }

    /// <summary>
    /// C1–C6 over what the command touched, in one round trip inside its transaction: O(rows touched),
    /// plus O(lots) of each touched account for the C2 sums. C4 and C5 are proven incrementally: each
    /// settled reservation's usage row equals its charge, and each new entry chains from the previous
    /// one of its lot and the lot row equals its latest entry.
    /// </summary>
    internal static readonly string Incremental = $"""
        SELECT 'C1', l.account_id, format('lot %s: %s + %s + %s + %s + %s <> %s', l.id, l.available, l.reserved, l.consumed, l.expired, l.taken_back, l.original)
        FROM credit_lots l
        WHERE l.id = ANY(@lots) AND (l.available < 0 OR l.reserved < 0 OR l.consumed < 0 OR l.expired < 0 OR l.taken_back < 0
            OR l.available + l.reserved + l.consumed + l.expired + l.taken_back <> l.original)
        UNION ALL
        SELECT 'C2', a.id, format('account %s: lots hold %s, pending reservations %s', a.id, coalesce(lr.total, 0), coalesce(pr.total, 0))
        FROM unnest(@accounts::uuid[]) AS a(id)
        LEFT JOIN LATERAL (SELECT sum(reserved) AS total FROM credit_lots WHERE account_id = a.id) lr ON true
        LEFT JOIN LATERAL (SELECT sum(held) AS total FROM credit_reservations WHERE account_id = a.id AND status = 'pending') pr ON true
        WHERE coalesce(lr.total, 0) <> coalesce(pr.total, 0)
        UNION ALL
        SELECT 'C3', r.account_id, format('reservation %s (%s): held %s, charged %s, reversed %s; entries hold %s, charge %s, release %s, reverse %s',
            r.id, r.status, r.held, r.charged, v.total, e.holds, e.charges, e.releases, e.reverses)
        FROM credit_reservations r
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(amount) FILTER (WHERE kind = 'hold'), 0) AS holds,
                   coalesce(sum(amount) FILTER (WHERE kind = 'charge'), 0) AS charges,
                   coalesce(sum(amount) FILTER (WHERE kind IN ('release', 'expire_hold')), 0) AS releases,
                   coalesce(sum(amount) FILTER (WHERE kind = 'reverse'), 0) AS reverses
            FROM ledger_entries WHERE reservation_id = r.id) e
        CROSS JOIN LATERAL (SELECT coalesce(sum(amount), 0) AS total FROM credit_reversals WHERE reservation_id = r.id) v
        WHERE r.id = ANY(@reservations) AND NOT (
            e.holds = r.held AND coalesce(r.charged, 0) <= r.held AND (SELECT coalesce(sum(x), 0) FROM unnest(r.hold_amounts) x) = r.held
            AND e.reverses = v.total AND v.total <= coalesce(r.charged, 0)
            AND CASE r.status
                WHEN 'pending' THEN r.charged IS NULL AND e.charges = 0 AND e.releases = 0
                WHEN 'finalized' THEN e.charges = r.charged AND e.releases = r.held - r.charged
                ELSE r.charged IS NULL AND e.charges = 0 AND e.releases = r.held END)
        UNION ALL
        SELECT 'C4', r.account_id, format('reservation %s (%s): charged %s, usage event amount %s', r.id, r.status, r.charged, u.amount_micro)
        FROM credit_reservations r
        LEFT JOIN usage_events u ON u.reservation_id = r.id
        WHERE r.id = ANY(@reservations)
            AND ((r.status = 'finalized') <> (u.id IS NOT NULL) OR u.amount_micro IS DISTINCT FROM r.charged AND u.id IS NOT NULL)
        UNION ALL
        SELECT 'C5', l.account_id, format('lot %s entry %s does not chain from entry %s', l.id, e.lot_seq, e.lot_seq - 1)
        FROM unnest(@lots::uuid[], @counts::int[]) AS t(id, n)
        JOIN credit_lots l ON l.id = t.id AND l.id = ANY(@lots)
        CROSS JOIN LATERAL (
            -- The n entries this command wrote and the one before them: an index range scan of n + 1 rows.
            -- (Entries beyond the lot's entry_seq are caught by the next check.)
            SELECT w.* FROM (
                SELECT y.*, lag(y.lot_seq) OVER o AS p_seq, lag(y.available_after) OVER o AS p_available,
                       lag(y.reserved_after) OVER o AS p_reserved, lag(y.consumed_after) OVER o AS p_consumed,
                       lag(y.expired_after) OVER o AS p_expired, lag(y.taken_back_after) OVER o AS p_taken_back
                FROM ledger_entries y WHERE y.lot_id = l.id AND y.lot_seq >= l.entry_seq - t.n
                WINDOW o AS (ORDER BY y.lot_seq)) w
            WHERE w.lot_seq > l.entry_seq - t.n) e
        WHERE (e.lot_seq = 1 AND (e.kind <> 'mint' OR e.amount <> l.original))
            OR (e.lot_seq > 1 AND e.p_seq IS DISTINCT FROM e.lot_seq - 1)
            OR coalesce(e.p_available, 0) + {EntryKinds.AvailableDelta("e.")} <> e.available_after
            OR coalesce(e.p_reserved, 0) + {EntryKinds.ReservedDelta("e.")} <> e.reserved_after
            OR coalesce(e.p_consumed, 0) + {EntryKinds.ConsumedDelta("e.")} <> e.consumed_after
            OR coalesce(e.p_expired, 0) + {EntryKinds.ExpiredDelta("e.")} <> e.expired_after
            OR coalesce(e.p_taken_back, 0) + {EntryKinds.TakenBackDelta("e.")} <> e.taken_back_after
        UNION ALL
        SELECT 'C5', l.account_id, format('lot %s: row differs from its latest entry %s', l.id, l.entry_seq)
        FROM credit_lots l
        LEFT JOIN ledger_entries e ON e.lot_id = l.id AND e.lot_seq = l.entry_seq
        WHERE l.id = ANY(@lots) AND (e.id IS NULL
            OR e.available_after <> l.available OR e.reserved_after <> l.reserved
            OR e.consumed_after <> l.consumed OR e.expired_after <> l.expired OR e.taken_back_after <> l.taken_back
            OR EXISTS (SELECT 1 FROM ledger_entries x WHERE x.lot_id = l.id AND x.lot_seq > l.entry_seq))
        UNION ALL
        SELECT 'C6', a.id, format('account %s: debt %s, clawback debts %s less repaid %s; clawbacks took %s, clawback entries %s',
            a.id, ca.debt_micro, c.debt, e.repaid, c.taken, e.clawed)
        FROM unnest(@accounts::uuid[]) AS a(id)
        JOIN credit_accounts ca ON ca.id = a.id
        CROSS JOIN LATERAL (SELECT coalesce(sum(debt_micro), 0) AS debt, coalesce(sum(taken_micro), 0) AS taken FROM credit_clawbacks WHERE account_id = a.id) c
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(amount) FILTER (WHERE kind = 'repay'), 0) AS repaid, coalesce(sum(amount) FILTER (WHERE kind = 'clawback'), 0) AS clawed
            FROM ledger_entries WHERE account_id = a.id AND kind IN ('clawback', 'repay')) e
        WHERE ca.debt_micro <> c.debt - e.repaid OR ca.debt_micro < 0 OR c.taken <> e.clawed
        UNION ALL
        SELECT 'C6', c.account_id, format('clawback %s: took %s + debt %s, purchase lot %s of %s', c.id, c.taken_micro, c.debt_micro, l.id, l.original)
        FROM credit_clawbacks c
        LEFT JOIN credit_lots l ON l.source = 'purchase' AND l.source_ref = c.source_ref
        WHERE c.account_id = ANY(@accounts)
            AND (l.id IS NULL OR l.account_id <> c.account_id OR c.taken_micro + c.debt_micro <> l.original OR c.credits_micro <> l.original)
        """;

    /// <summary>The full audit: replays every entry of the given accounts (all accounts when @all).</summary>
    internal static readonly string Full = $"""
        SELECT 'C1', l.account_id, format('lot %s: %s + %s + %s + %s + %s vs original %s, mint %s', l.id, l.available, l.reserved, l.consumed, l.expired, l.taken_back, l.original, m.amount)
        FROM credit_lots l
        LEFT JOIN ledger_entries m ON m.lot_id = l.id AND m.lot_seq = 1
        WHERE (@all OR l.account_id = ANY(@accounts)) AND (l.available < 0 OR l.reserved < 0 OR l.consumed < 0 OR l.expired < 0 OR l.taken_back < 0
            OR l.available + l.reserved + l.consumed + l.expired + l.taken_back <> l.original
            OR m.kind IS DISTINCT FROM 'mint' OR m.amount IS DISTINCT FROM l.original)
        UNION ALL
        SELECT 'C2', a.id, format('account %s: lots hold %s, pending reservations %s', a.id, coalesce(lr.total, 0), coalesce(pr.total, 0))
        FROM credit_accounts a
        LEFT JOIN (SELECT account_id, sum(reserved) AS total FROM credit_lots GROUP BY account_id) lr ON lr.account_id = a.id
        LEFT JOIN (SELECT account_id, sum(held) AS total FROM credit_reservations WHERE status = 'pending' GROUP BY account_id) pr ON pr.account_id = a.id
        WHERE (@all OR a.id = ANY(@accounts)) AND coalesce(lr.total, 0) <> coalesce(pr.total, 0)
        UNION ALL
        SELECT 'C2', l.account_id, format('lot %s: reserved %s, pending holds on it %s', l.id, l.reserved, coalesce(h.total, 0))
        FROM credit_lots l
        LEFT JOIN (
            SELECT x.lot, sum(x.amount) AS total
            FROM credit_reservations r CROSS JOIN LATERAL unnest(r.hold_lots, r.hold_amounts) AS x(lot, amount)
            WHERE r.status = 'pending' GROUP BY x.lot) h ON h.lot = l.id
        WHERE (@all OR l.account_id = ANY(@accounts)) AND l.reserved <> coalesce(h.total, 0)
        UNION ALL
        SELECT 'C3', r.account_id, format('reservation %s (%s): held %s, charged %s, reversed %s; entries hold %s, charge %s, release %s, reverse %s',
            r.id, r.status, r.held, r.charged, coalesce(v.total, 0), coalesce(e.holds, 0), coalesce(e.charges, 0), coalesce(e.releases, 0),
            coalesce(e.reverses, 0))
        FROM credit_reservations r
        LEFT JOIN (
            SELECT reservation_id,
                   sum(amount) FILTER (WHERE kind = 'hold') AS holds,
                   sum(amount) FILTER (WHERE kind = 'charge') AS charges,
                   sum(amount) FILTER (WHERE kind IN ('release', 'expire_hold')) AS releases,
                   sum(amount) FILTER (WHERE kind = 'reverse') AS reverses
            FROM ledger_entries WHERE reservation_id IS NOT NULL GROUP BY reservation_id) e ON e.reservation_id = r.id
        LEFT JOIN (SELECT reservation_id, sum(amount) AS total FROM credit_reversals GROUP BY reservation_id) v ON v.reservation_id = r.id
        WHERE (@all OR r.account_id = ANY(@accounts)) AND NOT (
            coalesce(e.holds, 0) = r.held AND coalesce(r.charged, 0) <= r.held
            AND coalesce(e.reverses, 0) = coalesce(v.total, 0) AND coalesce(v.total, 0) <= coalesce(r.charged, 0)
            AND CASE r.status
                WHEN 'pending' THEN r.charged IS NULL AND coalesce(e.charges, 0) = 0 AND coalesce(e.releases, 0) = 0
                WHEN 'finalized' THEN coalesce(e.charges, 0) = r.charged AND coalesce(e.releases, 0) = r.held - r.charged
                ELSE r.charged IS NULL AND coalesce(e.charges, 0) = 0 AND coalesce(e.releases, 0) = r.held END)
        UNION ALL
        SELECT 'C4', a.id, format('account %s: usage events %s, charged %s, reversed %s, lots consumed %s',
            a.id, coalesce(u.total, 0), coalesce(c.total, 0), coalesce(v.total, 0), coalesce(l.total, 0))
        FROM credit_accounts a
        LEFT JOIN (SELECT account_id, sum(amount_micro) AS total FROM usage_events GROUP BY account_id) u ON u.account_id = a.id
        LEFT JOIN (SELECT account_id, sum(charged) AS total FROM credit_reservations WHERE status = 'finalized' GROUP BY account_id) c ON c.account_id = a.id
        LEFT JOIN (SELECT account_id, sum(amount) AS total FROM credit_reversals GROUP BY account_id) v ON v.account_id = a.id
        LEFT JOIN (SELECT account_id, sum(consumed) AS total FROM credit_lots GROUP BY account_id) l ON l.account_id = a.id
        WHERE (@all OR a.id = ANY(@accounts))
            AND NOT (coalesce(u.total, 0) = coalesce(c.total, 0) AND coalesce(c.total, 0) - coalesce(v.total, 0) = coalesce(l.total, 0))
        UNION ALL
        SELECT 'C4', r.account_id, format('reservation %s (%s): charged %s, usage event amount %s', r.id, r.status, r.charged, u.amount_micro)
        FROM credit_reservations r
        LEFT JOIN usage_events u ON u.reservation_id = r.id
        WHERE (@all OR r.account_id = ANY(@accounts))
            AND ((r.status = 'finalized') <> (u.id IS NOT NULL) OR (u.id IS NOT NULL AND u.amount_micro IS DISTINCT FROM r.charged))
        UNION ALL
        SELECT 'C5', x.account_id, format('lot %s entry %s: recorded columns differ from the replay', x.lot_id, x.lot_seq)
        FROM (
            SELECT account_id, lot_id, lot_seq, available_after, reserved_after, consumed_after, expired_after, taken_back_after,
                   row_number() OVER w AS position,
                   sum({EntryKinds.AvailableDelta()}) OVER w AS available,
                   sum({EntryKinds.ReservedDelta()}) OVER w AS reserved,
                   sum({EntryKinds.ConsumedDelta()}) OVER w AS consumed,
                   sum({EntryKinds.ExpiredDelta()}) OVER w AS expired,
                   sum({EntryKinds.TakenBackDelta()}) OVER w AS taken_back
            FROM ledger_entries
            WHERE (@all OR account_id = ANY(@accounts))
            WINDOW w AS (PARTITION BY lot_id ORDER BY lot_seq)) x
        WHERE x.position <> x.lot_seq OR x.available <> x.available_after OR x.reserved <> x.reserved_after
            OR x.consumed <> x.consumed_after OR x.expired <> x.expired_after OR x.taken_back <> x.taken_back_after
        UNION ALL
        SELECT 'C5', l.account_id, format('lot %s: columns differ from its %s entries replayed', l.id, coalesce(s.entries, 0))
        FROM credit_lots l
        LEFT JOIN (
            SELECT lot_id, count(*) AS entries,
                   sum({EntryKinds.AvailableDelta()}) AS available, sum({EntryKinds.ReservedDelta()}) AS reserved,
                   sum({EntryKinds.ConsumedDelta()}) AS consumed, sum({EntryKinds.ExpiredDelta()}) AS expired,
                   sum({EntryKinds.TakenBackDelta()}) AS taken_back
            FROM ledger_entries GROUP BY lot_id) s ON s.lot_id = l.id
        WHERE (@all OR l.account_id = ANY(@accounts)) AND (s.entries IS DISTINCT FROM l.entry_seq
            OR s.available <> l.available OR s.reserved <> l.reserved OR s.consumed <> l.consumed OR s.expired <> l.expired
            OR s.taken_back <> l.taken_back)
        UNION ALL
        SELECT 'C6', a.id, format('account %s: debt %s, clawback debts %s less repaid %s; clawbacks took %s, clawback entries %s',
            a.id, a.debt_micro, coalesce(c.debt, 0), coalesce(e.repaid, 0), coalesce(c.taken, 0), coalesce(e.clawed, 0))
        FROM credit_accounts a
        LEFT JOIN (SELECT account_id, sum(debt_micro) AS debt, sum(taken_micro) AS taken FROM credit_clawbacks GROUP BY account_id) c ON c.account_id = a.id
        LEFT JOIN (
            SELECT account_id, sum(amount) FILTER (WHERE kind = 'repay') AS repaid, sum(amount) FILTER (WHERE kind = 'clawback') AS clawed
            FROM ledger_entries WHERE kind IN ('clawback', 'repay') GROUP BY account_id) e ON e.account_id = a.id
        WHERE (@all OR a.id = ANY(@accounts)) AND (a.debt_micro < 0
            OR a.debt_micro <> coalesce(c.debt, 0) - coalesce(e.repaid, 0) OR coalesce(c.taken, 0) <> coalesce(e.clawed, 0))
        UNION ALL
        SELECT 'C6', c.account_id, format('clawback %s: took %s + debt %s, purchase lot %s of %s', c.id, c.taken_micro, c.debt_micro, l.id, l.original)
        FROM credit_clawbacks c
        LEFT JOIN credit_lots l ON l.source = 'purchase' AND l.source_ref = c.source_ref
        WHERE (@all OR c.account_id = ANY(@accounts))
            AND (l.id IS NULL OR l.account_id <> c.account_id OR c.taken_micro + c.debt_micro <> l.original OR c.credits_micro <> l.original)
        """;
}

/// <summary>
/// The ledger's conservation guard: C1–C6 for what a command touched, inside its transaction.
/// Violations are also written to conservation_violations on a separate connection, because the
/// command's own transaction is about to roll back and take any record with it.
/// </summary>
internal sealed class LedgerConservationCheck(FreesideDb db, LedgerStore store, ViolationLog log) : IConservationCheck
{
    public async Task<IReadOnlyList<InvariantViolation>> CheckAsync(IReadOnlyCollection<Guid> accountIds, CancellationToken cancellationToken)
    {
        var violations = store.GuardReadWithLastFlush(accountIds) ?? await ReadAsync(accountIds, cancellationToken);
        if (violations.Count > 0)
        {
            await log.RecordAsync(violations, "guard", CancellationToken.None);
        }

        return violations;
    }

    private async Task<IReadOnlyList<InvariantViolation>> ReadAsync(IReadOnlyCollection<Guid> accountIds, CancellationToken cancellationToken)
    {
        await using var command = LedgerInvariants.Command(db, LedgerInvariants.Incremental);
        LedgerInvariants.BindIncremental(command.Parameters, accountIds, store.Touches.Lots, store.Touches.Reservations);
        return await LedgerInvariants.ReadAsync(command, cancellationToken);
    }
}

/// <summary>Writes found violations in their own short transaction, in the platform scope.</summary>
internal sealed class ViolationLog(NpgsqlDataSource dataSource, TimeProvider time)
{
    public async Task RecordAsync(IReadOnlyList<InvariantViolation> violations, string source, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var scope = new NpgsqlCommand($"SELECT {TenantScope.Set("@scope")}", connection, transaction))
        {
            scope.Parameters.AddWithValue("scope", TenantScope.Platform);
            await scope.ExecutePreparedAsync(cancellationToken);
        }

        await using (var insert = new NpgsqlCommand("""
            INSERT INTO conservation_violations (account_id, community_id, invariant, source, detail, detected_at)
            SELECT v.account_id, a.community_id, v.invariant, @source, v.detail, @now
            FROM unnest(@accounts, @invariants, @details) AS v(account_id, invariant, detail)
            LEFT JOIN credit_accounts a ON a.id = v.account_id
            """, connection, transaction))
        {
            insert.Parameters.AddWithValue("source", source);
            insert.Parameters.AddWithValue("now", time.GetUtcNow());
            insert.Parameters.AddWithValue("accounts", violations.Select(v => v.AccountId).ToArray());
            insert.Parameters.AddWithValue("invariants", violations.Select(v => v.Invariant).ToArray());
            insert.Parameters.AddWithValue("details", violations.Select(v => v.Detail).ToArray());
            await insert.ExecutePreparedAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }
}
