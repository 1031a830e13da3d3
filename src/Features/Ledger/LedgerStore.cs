using System.Data.Common;
using Freeside.Features.Common;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Ledger.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Freeside.Features.Ledger;

/// <summary>Which rows a ledger command may see (row-level security, see docs/ledger.md).</summary>
internal abstract record LedgerScope
{
    /// <summary>Every community: the cross-community jobs and the batched path.</summary>
    public static readonly LedgerScope Platform = new PlatformScope();

    public static LedgerScope Community(Guid communityId) => new CommunityScope(communityId);

    /// <summary>The community of these accounts when they all belong to one; the platform otherwise (developer accounts, mixed batches).</summary>
    public static LedgerScope OfAccounts(params Guid[] accountIds) => new AccountsScope(accountIds);

    internal sealed record PlatformScope : LedgerScope;

    internal sealed record CommunityScope(Guid CommunityId) : LedgerScope;

    internal sealed record AccountsScope(Guid[] AccountIds) : LedgerScope;
}

/// <summary>
/// Loads the ledger rows a command needs — locked, in one round trip — as domain objects, and writes
/// what the domain changed in one more. It owns the unit's touch record (which lots, reservations and
/// accounts were written), which the conservation guard checks; nothing else records touches. One store
/// per scope, reset whenever it sees a new transaction, because the transaction behavior may re-run
/// the whole unit after a deadlock and a retry must start clean.
/// </summary>
internal sealed class LedgerStore(FreesideDb db, TouchedAccounts touchedAccounts, TimeProvider time)
{
    private readonly Dictionary<Guid, Lot> _lots = [];
    private readonly HashSet<Guid> _minted = [];
    private readonly HashSet<Guid> _spendableLoaded = [];
    private readonly Dictionary<Guid, Guid?> _accountCommunities = [];
    private readonly Dictionary<Guid, Money> _accountDebts = [];
    private readonly Dictionary<Guid, AccountLots> _accounts = [];
    private readonly HashSet<(Guid AccountId, string Key)> _keysLoaded = [];
    private readonly Dictionary<(Guid AccountId, string Key), Reservation> _byKey = [];
    private readonly HashSet<Guid> _settleLoaded = [];
    private readonly Dictionary<Guid, Reservation> _reservations = [];
    private readonly LedgerTouches _touches = new();
    private readonly Dictionary<Guid, long> _availableAfterSave = [];
    private GuardReadAhead? _guard;
    private DbTransaction? _unit;
    private bool _entered;
    private DateTimeOffset _now;

    /// <summary>The unit's clock: every row it writes carries this time.</summary>
    public DateTimeOffset Now
    {
        get
        {
            Unit();
            return _now;
        }
    }

    public LedgerTouches Touches => _touches;

    /// <summary>
    /// What each account with a reservation finalized by the last <see cref="SaveAsync"/> can spend after
    /// it (unexpired lots' available credits), read by the flush's own round trip.
    /// </summary>
    public IReadOnlyDictionary<Guid, long> AvailableAfterSave => _availableAfterSave;

    public IReadOnlyDictionary<Guid, Lot> Lots => _lots;

    /// <summary>
    /// Everything a set of movements needs, locked and read in one round trip: the scope; the
    /// idempotency keys of the reserves (a transaction-scoped advisory lock each, so a key's absence
    /// read here stays true until commit); the reservations already holding those keys; the
    /// reservations to settle (FOR UPDATE); every lot the movements may touch (FOR UPDATE) and the
    /// reserving accounts. Locks are always taken in the same order — keys, reservations, lots, each
    /// sorted — so two units never deadlock each other.
    /// </summary>
    public async Task LoadAsync(LedgerScope scope, IReadOnlyCollection<(Guid AccountId, string Key)> reserveKeys, IReadOnlyCollection<Guid> settling,
        CancellationToken cancellationToken)
    {
        Unit();
        var keys = reserveKeys.Where(k => !_keysLoaded.Contains(k)).Distinct().ToArray();
        var accounts = keys.Select(k => k.AccountId).Where(a => !_spendableLoaded.Contains(a)).Distinct().ToArray();
        var reservations = settling.Where(id => !_reservations.ContainsKey(id)).Distinct().Order().ToArray();
        await using var batch = Batch();
        var scopeStatements = AddScope(batch, scope);
        if (keys.Length > 0)
        {
            var lockKeys = new NpgsqlBatchCommand("""
                SELECT count(pg_advisory_xact_lock(@space, k.h))
                FROM (SELECT DISTINCT hashtext(t.account_id::text || '/' || t.key) AS h FROM unnest(@accounts, @keys) AS t(account_id, key) ORDER BY 1) k
                """);
            lockKeys.Parameters.AddWithValue("space", IdempotencyLockSpace);
            lockKeys.Parameters.AddWithValue("accounts", keys.Select(k => k.AccountId).ToArray());
            lockKeys.Parameters.AddWithValue("keys", keys.Select(k => k.Key).ToArray());
            batch.BatchCommands.Add(lockKeys);
            var existing = new NpgsqlBatchCommand($"""
                SELECT {ReservationColumns} FROM unnest(@accounts, @keys) AS t(account_id, key)
                JOIN credit_reservations r ON r.account_id = t.account_id AND r.idempotency_key = t.key
                """);
            existing.Parameters.AddWithValue("accounts", keys.Select(k => k.AccountId).ToArray());
            existing.Parameters.AddWithValue("keys", keys.Select(k => k.Key).ToArray());
            batch.BatchCommands.Add(existing);
        }

        if (reservations.Length > 0)
        {
            var lockReservations = new NpgsqlBatchCommand($"SELECT {ReservationColumns} FROM credit_reservations r WHERE r.id = ANY(@ids) ORDER BY r.id FOR UPDATE");
            lockReservations.Parameters.AddWithValue("ids", reservations);
            batch.BatchCommands.Add(lockReservations);
        }

        if (accounts.Length > 0 || reservations.Length > 0)
        {
            batch.BatchCommands.Add(LockLots(accounts, reservations));
        }

        if (accounts.Length > 0)
        {
            // Read after the lots are locked: a clawback holds those locks while it records a debt, so a reserve sees it.
            var readAccounts = new NpgsqlBatchCommand("SELECT id, community_id, debt_micro FROM credit_accounts WHERE id = ANY(@accounts)");
            readAccounts.Parameters.AddWithValue("accounts", accounts);
            batch.BatchCommands.Add(readAccounts);
        }

        if (batch.BatchCommands.Count == 0)
        {
            return;
        }

        await batch.PrepareAsync(cancellationToken);
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            await SkipAsync(reader, scopeStatements, cancellationToken);
            var byKey = new List<Reservation>();
            if (keys.Length > 0)
            {
                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    byKey.Add(ReadReservation(reader));
                }

                await reader.NextResultAsync(cancellationToken);
            }

            if (reservations.Length > 0)
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    var locked = ReadReservation(reader);
                    _reservations[locked.Id] = locked;
                }

                await reader.NextResultAsync(cancellationToken);
            }

            // A reservation read both by its key and locked to settle is one object: the locked read.
            foreach (var known in byKey)
            {
                _byKey[(known.AccountId, known.IdempotencyKey)] = _reservations.GetValueOrDefault(known.Id, known);
            }

            if (accounts.Length > 0 || reservations.Length > 0)
            {
                await ReadLotsAsync(reader, cancellationToken);
                await reader.NextResultAsync(cancellationToken);
            }

            if (accounts.Length > 0)
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    _accountCommunities[reader.GetGuid(0)] = reader.IsDBNull(1) ? null : reader.GetGuid(1);
                    _accountDebts[reader.GetGuid(0)] = Money.FromMicro(reader.GetInt64(2));
                }
            }
        }

        _keysLoaded.UnionWith(keys);
        _spendableLoaded.UnionWith(accounts);
        _settleLoaded.UnionWith(reservations);
    }

    /// <summary>The account with its spendable lots and the reservations of the keys loaded for it; null when no such account exists.</summary>
    public AccountLots? Account(Guid accountId)
    {
        if (!_spendableLoaded.Contains(accountId))
        {
            throw new InvalidOperationException("Load an idempotency key of the account before reserving on it.");
        }

        if (_accounts.TryGetValue(accountId, out var account))
        {
            return account;
        }

        if (!_accountCommunities.TryGetValue(accountId, out var communityId))
        {
            return null;
        }

        account = new AccountLots(accountId, communityId, _lots.Values, _byKey.Values, _accountDebts.GetValueOrDefault(accountId));
        _accounts[accountId] = account;
        return account;
    }

    /// <summary>A reservation loaded to settle; null when it does not exist or belongs to another account than <paramref name="accountId"/>.</summary>
    public Reservation? Reservation(Guid reservationId, Guid? accountId)
    {
        if (!_settleLoaded.Contains(reservationId) && !_reservations.ContainsKey(reservationId))
        {
            throw new InvalidOperationException("Load the reservation before settling it.");
        }

        return _reservations.TryGetValue(reservationId, out var reservation) && (accountId is null || reservation.AccountId == accountId)
            ? reservation
            : null;
    }

    /// <summary>Enters the platform scope and takes a sweep's transaction-scoped advisory lock if no other replica holds it.</summary>
    public async Task<bool> TryStartSweepAsync(long sweepLock, CancellationToken cancellationToken)
    {
        Unit();
        await using var batch = Batch();
        var scopeStatements = AddScope(batch, LedgerScope.Platform);
        var gate = new NpgsqlBatchCommand("SELECT pg_try_advisory_xact_lock(@key)");
        gate.Parameters.AddWithValue("key", sweepLock);
        batch.BatchCommands.Add(gate);
        await batch.PrepareAsync(cancellationToken);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await SkipAsync(reader, scopeStatements, cancellationToken);
        return await reader.ReadAsync(cancellationToken) && reader.GetBoolean(0);
    }

    /// <summary>Lots past their expiry with credit still available, locked (skipping lots another unit holds).</summary>
    public async Task<IReadOnlyList<Lot>> LoadExpiredLotsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var select = Command($"""
            SELECT {LotColumns} FROM credit_lots
            WHERE expires_at <= @now AND available > 0
            ORDER BY id LIMIT @limit FOR UPDATE SKIP LOCKED
            """);
        select.Parameters.AddWithValue("now", Now);
        select.Parameters.AddWithValue("limit", limit);
        await using var reader = await select.ExecuteReaderPreparedAsync(cancellationToken);
        return await ReadLotsAsync(reader, cancellationToken);
    }

    /// <summary>Holds pending since before <paramref name="cutoff"/>, locked with their lots (skipping holds another unit settles).</summary>
    public async Task<IReadOnlyList<Reservation>> LoadOrphansAsync(DateTimeOffset cutoff, int limit, CancellationToken cancellationToken)
    {
        var ids = new List<Guid>();
        await using (var select = Command("""
            SELECT id FROM credit_reservations
            WHERE status = 'pending' AND created_at <= @cutoff
            ORDER BY created_at LIMIT @limit FOR UPDATE SKIP LOCKED
            """))
        {
            select.Parameters.AddWithValue("cutoff", cutoff);
            select.Parameters.AddWithValue("limit", limit);
            await using var reader = await select.ExecuteReaderPreparedAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetGuid(0));
            }
        }

        await LoadAsync(LedgerScope.Platform, [], ids, cancellationToken);
        return [.. ids.Select(id => _reservations[id])];
    }

    /// <summary>The creation time of the oldest hold still pending once this unit's changes are written, if any.</summary>
    public async Task<DateTimeOffset?> OldestPendingAsync(CancellationToken cancellationToken)
    {
        await using var oldest = Command("SELECT min(created_at) FROM credit_reservations WHERE status = 'pending'");
        return await oldest.ExecuteScalarPreparedAsync(cancellationToken) is DateTime created
            ? new DateTimeOffset(DateTime.SpecifyKind(created, DateTimeKind.Utc))
            : null;
    }

    /// <summary>Gets or creates the account of a community or of a developer.</summary>
    public async Task<Guid> OpenAccountAsync(Guid? communityId, Guid? developerId, CancellationToken cancellationToken)
    {
        Unit();
        var owner = (communityId ?? developerId)!.Value;
        await using var batch = Batch();
        var scopeStatements = AddScope(batch, communityId is { } community ? LedgerScope.Community(community) : LedgerScope.Platform);
        var insert = new NpgsqlBatchCommand(communityId is not null
            ? "INSERT INTO credit_accounts (id, kind, community_id, created_at) VALUES (@id, 'community', @owner, @now) ON CONFLICT (community_id) WHERE kind = 'community' DO NOTHING"
            : "INSERT INTO credit_accounts (id, kind, developer_id, created_at) VALUES (@id, 'developer', @owner, @now) ON CONFLICT (developer_id) WHERE kind = 'developer' DO NOTHING");
        insert.Parameters.AddWithValue("id", Guid.CreateVersion7());
        insert.Parameters.AddWithValue("owner", owner);
        insert.Parameters.AddWithValue("now", Now);
        batch.BatchCommands.Add(insert);
        var select = new NpgsqlBatchCommand(communityId is not null
            ? "SELECT id FROM credit_accounts WHERE kind = 'community' AND community_id = @owner"
            : "SELECT id FROM credit_accounts WHERE kind = 'developer' AND developer_id = @owner");
        select.Parameters.AddWithValue("owner", owner);
        batch.BatchCommands.Add(select);
        await batch.PrepareAsync(cancellationToken);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        // The INSERT returns no result set, so the SELECT follows the scope's.
        await SkipAsync(reader, scopeStatements, cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? reader.GetGuid(0) : throw new InvalidOperationException("The account just opened is not visible.");
    }

    /// <summary>
    /// Writes a minted lot once per (source, source_ref); a replay returns the lot minted before and drops the new one.
    /// A purchase (<paramref name="repaysDebt"/>) first repays the account's debt, under the account row's lock.
    /// </summary>
    public async Task<(CreditLot Lot, bool Minted)> MintAsync(Lot lot, string source, string sourceRef, CancellationToken cancellationToken,
        bool repaysDebt = false)
    {
        Unit();
        AccountLots? debtor = null;
        if (repaysDebt)
        {
            var debt = await LockDebtAsync(lot.AccountId, cancellationToken);
            if (debt.IsPositive)
            {
                debtor = new AccountLots(lot.AccountId, lot.CommunityId, [lot], [], debt);
                debtor.Repay(lot, $"repays the debt before {sourceRef}");
            }
        }

        await using (var insert = Command("""
            INSERT INTO credit_lots (id, account_id, community_id, source, source_ref, original, available, reserved, consumed, expired, taken_back, entry_seq, expires_at, created_at)
            VALUES (@id, @account, @community, @source, @ref, @amount, @available, 0, 0, 0, @taken_back, @seq, @expires, @now)
            ON CONFLICT (source, source_ref) DO NOTHING
            """))
        {
            insert.Parameters.AddWithValue("id", lot.Id);
            insert.Parameters.AddWithValue("account", lot.AccountId);
            insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Uuid) { Value = (object?)lot.CommunityId ?? DBNull.Value });
            insert.Parameters.AddWithValue("source", source);
            insert.Parameters.AddWithValue("ref", sourceRef);
            insert.Parameters.AddWithValue("amount", lot.Original.Micro);
            insert.Parameters.AddWithValue("available", lot.Available.Micro);
            insert.Parameters.AddWithValue("taken_back", lot.TakenBack.Micro);
            insert.Parameters.AddWithValue("seq", lot.Seq);
            insert.Parameters.Add(new NpgsqlParameter("expires", NpgsqlDbType.TimestampTz) { Value = (object?)lot.ExpiresAt ?? DBNull.Value });
            insert.Parameters.AddWithValue("now", lot.CreatedAt);
            if (await insert.ExecutePreparedAsync(cancellationToken) == 1)
            {
                _lots[lot.Id] = lot;
                _minted.Add(lot.Id);
                if (debtor is not null)
                {
                    await SetDebtAsync(lot.AccountId, debtor.Debt, cancellationToken);
                }

                return (Entity(lot, source, sourceRef), true);
            }
        }

        var existing = await db.Set<CreditLot>().AsNoTracking()
            .SingleAsync(l => l.Source == source && l.SourceRef == sourceRef, cancellationToken);
        return (existing, false);
    }

    /// <summary>
    /// Takes a refunded purchase's credits back, once per purchase ever (credit_clawbacks is unique on
    /// <paramref name="sourceRef"/>, the purchase lot's): under the refund's advisory lock, with the
    /// account row and its spendable lots plus the purchase lot locked, <see cref="AccountLots.ClawBack"/>
    /// decides; the clawback row, the new debt, the lots and their entries are written. Returns null
    /// (and moves nothing) when the purchase was already taken back. Runs in the caller's scope.
    /// </summary>
    public async Task<ClawbackOutcome?> ClawBackAsync(Guid accountId, Guid? purchaseLotId, string sourceRef, Money credits,
        CancellationToken cancellationToken)
    {
        Unit();
        bool done;
        Guid? communityId;
        Money debt;
        await using (var batch = Batch())
        {
            var gate = new NpgsqlBatchCommand("SELECT count(pg_advisory_xact_lock(@space, hashtext(@ref)))");
            gate.Parameters.AddWithValue("space", ClawbackLockSpace);
            gate.Parameters.AddWithValue("ref", sourceRef);
            batch.BatchCommands.Add(gate);
            var earlier = new NpgsqlBatchCommand("SELECT count(*) FROM credit_clawbacks WHERE source_ref = @ref");
            earlier.Parameters.AddWithValue("ref", sourceRef);
            batch.BatchCommands.Add(earlier);
            var account = new NpgsqlBatchCommand("SELECT community_id, debt_micro FROM credit_accounts WHERE id = @account FOR UPDATE");
            account.Parameters.AddWithValue("account", accountId);
            batch.BatchCommands.Add(account);
            var lockLots = new NpgsqlBatchCommand($"""
                SELECT {LotColumns} FROM credit_lots
                WHERE (account_id = @account AND available > 0 AND (expires_at IS NULL OR expires_at > @now)) OR id = @lot
                ORDER BY id FOR UPDATE
                """);
            lockLots.Parameters.AddWithValue("account", accountId);
            lockLots.Parameters.Add(new NpgsqlParameter("lot", NpgsqlDbType.Uuid) { Value = (object?)purchaseLotId ?? DBNull.Value });
            lockLots.Parameters.AddWithValue("now", _now);
            batch.BatchCommands.Add(lockLots);
            await batch.PrepareAsync(cancellationToken);
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            done = reader.GetInt64(0) > 0;
            await reader.NextResultAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                throw new InvalidOperationException($"Credit account {accountId} is not visible to the clawback.");
            }

            communityId = reader.IsDBNull(0) ? null : reader.GetGuid(0);
            debt = Money.FromMicro(reader.GetInt64(1));
            await reader.NextResultAsync(cancellationToken);
            await ReadLotsAsync(reader, cancellationToken);
        }

        if (done)
        {
            return null;
        }

        var lots = new AccountLots(accountId, communityId, _lots.Values, [], debt);
        var outcome = lots.ClawBack(purchaseLotId, credits, $"refund of {sourceRef}", _now);
        await using (var insert = Command("""
            INSERT INTO credit_clawbacks (id, account_id, community_id, source_ref, credits_micro, taken_micro, debt_micro, created_at)
            VALUES (@id, @account, @community, @ref, @credits, @taken, @debt, @now)
            """))
        {
            insert.Parameters.AddWithValue("id", Guid.CreateVersion7());
            insert.Parameters.AddWithValue("account", accountId);
            insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Uuid) { Value = (object?)communityId ?? DBNull.Value });
            insert.Parameters.AddWithValue("ref", sourceRef);
            insert.Parameters.AddWithValue("credits", credits.Micro);
            insert.Parameters.AddWithValue("taken", outcome.Taken.Micro);
            insert.Parameters.AddWithValue("debt", outcome.Debt.Micro);
            insert.Parameters.AddWithValue("now", _now);
            await insert.ExecutePreparedAsync(cancellationToken);
        }

        if (outcome.Debt.IsPositive)
        {
            await SetDebtAsync(accountId, lots.Debt, cancellationToken);
        }

        touchedAccounts.Add(accountId);
        await SaveAsync(cancellationToken);
        return outcome;
    }

    private async Task<Money> LockDebtAsync(Guid accountId, CancellationToken cancellationToken)
    {
        await using var select = Command("SELECT debt_micro FROM credit_accounts WHERE id = @account FOR UPDATE");
        select.Parameters.AddWithValue("account", accountId);
        return await select.ExecuteScalarPreparedAsync(cancellationToken) is long debt
            ? Money.FromMicro(debt)
            : throw new InvalidOperationException($"Credit account {accountId} is not visible.");
    }

    private async Task SetDebtAsync(Guid accountId, Money debt, CancellationToken cancellationToken)
    {
        await using var update = Command("UPDATE credit_accounts SET debt_micro = @debt WHERE id = @account");
        update.Parameters.AddWithValue("account", accountId);
        update.Parameters.AddWithValue("debt", debt.Micro);
        if (await update.ExecutePreparedAsync(cancellationToken) != 1)
        {
            throw new InvalidOperationException($"Expected to set the debt of credit account {accountId}.");
        }

        touchedAccounts.Add(accountId);
    }

    /// <summary>
    /// What a reversal needs, in one round trip: the community's account, the key's advisory lock,
    /// the reservation and its lots (FOR UPDATE), the earlier reversals of the key or of the
    /// reservation, and per lot what the reservation charged and gave back. The key's lock and the
    /// reservation's row lock make a replay, a duplicate and a concurrent reversal each see every earlier one.
    /// </summary>
    public async Task<(Guid? AccountId, Reservation? Reservation, ReversalHistory History)> LoadReversalAsync(
        Guid communityId, Guid reservationId, string idempotencyKey, CancellationToken cancellationToken)
    {
        Unit();
        await using var batch = Batch();
        var scopeStatements = AddScope(batch, LedgerScope.Community(communityId));
        const string Account = "(SELECT id FROM credit_accounts WHERE community_id = @community AND kind = 'community')";
        var account = new NpgsqlBatchCommand($"SELECT {Account}, count(pg_advisory_xact_lock(@space, hashtext({Account}::text || '/' || @key)))");
        account.Parameters.AddWithValue("community", communityId);
        account.Parameters.AddWithValue("space", ReversalLockSpace);
        account.Parameters.AddWithValue("key", idempotencyKey);
        batch.BatchCommands.Add(account);
        var lockReservation = new NpgsqlBatchCommand($"SELECT {ReservationColumns} FROM credit_reservations r WHERE r.id = ANY(@ids) ORDER BY r.id FOR UPDATE");
        lockReservation.Parameters.AddWithValue("ids", new[] { reservationId });
        batch.BatchCommands.Add(lockReservation);
        batch.BatchCommands.Add(LockLots([], [reservationId]));
        var earlier = new NpgsqlBatchCommand($"""
            SELECT id, reservation_id, idempotency_key, amount, reason, created_at FROM credit_reversals
            WHERE (account_id = {Account} AND idempotency_key = @key) OR reservation_id = @reservation
            """);
        earlier.Parameters.AddWithValue("community", communityId);
        earlier.Parameters.AddWithValue("key", idempotencyKey);
        earlier.Parameters.AddWithValue("reservation", reservationId);
        batch.BatchCommands.Add(earlier);
        var perLot = new NpgsqlBatchCommand("""
            SELECT lot_id, coalesce(sum(amount) FILTER (WHERE kind = 'charge'), 0), coalesce(sum(amount) FILTER (WHERE kind = 'reverse'), 0)
            FROM ledger_entries WHERE reservation_id = @reservation GROUP BY lot_id
            """);
        perLot.Parameters.AddWithValue("reservation", reservationId);
        batch.BatchCommands.Add(perLot);

        await batch.PrepareAsync(cancellationToken);
        Guid? accountId = null;
        var reversals = new List<Reversal>();
        var lots = new Dictionary<Guid, (Money, Money)>();
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            await SkipAsync(reader, scopeStatements, cancellationToken);
            if (await reader.ReadAsync(cancellationToken) && !reader.IsDBNull(0))
            {
                accountId = reader.GetGuid(0);
            }

            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var locked = ReadReservation(reader);
                _reservations[locked.Id] = locked;
            }

            await reader.NextResultAsync(cancellationToken);
            await ReadLotsAsync(reader, cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                reversals.Add(new Reversal(reader.GetGuid(0), reader.GetGuid(1), reader.GetString(2), Money.FromMicro(reader.GetInt64(3)),
                    reader.GetString(4), reader.GetFieldValue<DateTimeOffset>(5)));
            }

            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                lots[reader.GetGuid(0)] = (Money.FromMicro(reader.GetInt64(1)), Money.FromMicro(reader.GetInt64(2)));
            }
        }

        _settleLoaded.Add(reservationId);
        return (accountId, accountId is null ? null : Reservation(reservationId, accountId), new ReversalHistory(reversals, lots));
    }

    /// <summary>
    /// For code that changes ledger rows outside the domain (the guard's own tests): the guard then
    /// checks <paramref name="lotId"/> too.
    /// </summary>
    public void TouchOutsideDomain(Guid accountId, Guid lotId)
    {
        Unit();
        _touches.AddLot(lotId, 0);
        touchedAccounts.Add(accountId);
    }

    /// <summary>
    /// Writes what the domain changed since the last save in one round trip: the new reservations,
    /// the settled ones, every changed lot once, all entries, usage events and reversals, one
    /// set-based statement each, each statement's row count checked; and records the touches.
    /// </summary>
    public async Task SaveAsync(CancellationToken cancellationToken)
    {
        Unit();
        var created = _accounts.Values.SelectMany(a => a.Placed).Where(r => r.IsNew).ToList();
        var settled = _reservations.Values.Where(r => r.SettledNow).ToList();
        var reversed = _reservations.Values.Where(r => r.NewReversals.Count > 0).ToList();
        var changedLots = _lots.Values.Where(l => l.NewEntries.Count > 0).OrderBy(l => l.Id).ToList();
        var updatedLots = changedLots.Where(l => !_minted.Contains(l.Id)).ToList();
        var entries = changedLots.SelectMany(l => l.NewEntries).ToList();
        var usage = settled.Where(r => r.NewUsage is not null).Select(r => (Reservation: r, Usage: r.NewUsage!)).ToList();
        var reversals = reversed.SelectMany(r => r.NewReversals.Select(v => (Reservation: r, Reversal: v))).ToList();

        await using var batch = Batch();
        var expected = new List<(NpgsqlBatchCommand Command, int Rows, string What)>();
        if (created.Count > 0)
        {
            expected.Add((InsertReservations(batch, created), created.Count, "new reservations"));
        }

        if (settled.Count > 0)
        {
            // Each row was locked pending by LoadAsync; the status condition is the database's own check of that.
            var update = new NpgsqlBatchCommand("""
                UPDATE credit_reservations r
                SET status = v.status, charged = v.charged, finalization_id = v.finalization_id, settle_reason = v.reason, settled_at = @now
                FROM unnest(@id, @status, @charged, @finalization, @reason) AS v(id, status, charged, finalization_id, reason)
                WHERE r.id = v.id AND r.id = ANY(@id) AND r.status = 'pending'
                """);
            update.Parameters.AddWithValue("now", Now);
            update.Parameters.AddWithValue("id", settled.Select(r => r.Id).ToArray());
            update.Parameters.AddWithValue("status", settled.Select(r => r.Status.Name()).ToArray());
            update.Parameters.Add(new NpgsqlParameter("charged", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = settled.Select(r => r.Charged?.Micro).ToArray() });
            update.Parameters.Add(new NpgsqlParameter("finalization", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = settled.Select(r => r.FinalizationId).ToArray() });
            update.Parameters.Add(new NpgsqlParameter("reason", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = settled.Select(r => r.SettleReason).ToArray() });
            batch.BatchCommands.Add(update);
            expected.Add((update, settled.Count, "settled reservations"));
        }

        if (updatedLots.Count > 0)
        {
            var update = new NpgsqlBatchCommand("""
                UPDATE credit_lots l
                SET available = v.available, reserved = v.reserved, consumed = v.consumed, expired = v.expired, taken_back = v.taken_back, entry_seq = v.seq
                FROM unnest(@ids, @available, @reserved, @consumed, @expired, @taken_back, @seq) AS v(id, available, reserved, consumed, expired, taken_back, seq)
                WHERE l.id = v.id AND l.id = ANY(@ids)
                """);
            update.Parameters.AddWithValue("ids", updatedLots.Select(l => l.Id).ToArray());
            update.Parameters.AddWithValue("available", updatedLots.Select(l => l.Available.Micro).ToArray());
            update.Parameters.AddWithValue("reserved", updatedLots.Select(l => l.Reserved.Micro).ToArray());
            update.Parameters.AddWithValue("consumed", updatedLots.Select(l => l.Consumed.Micro).ToArray());
            update.Parameters.AddWithValue("expired", updatedLots.Select(l => l.Expired.Micro).ToArray());
            update.Parameters.AddWithValue("taken_back", updatedLots.Select(l => l.TakenBack.Micro).ToArray());
            update.Parameters.AddWithValue("seq", updatedLots.Select(l => l.Seq).ToArray());
            batch.BatchCommands.Add(update);
            expected.Add((update, updatedLots.Count, "locked lots"));
        }

        if (entries.Count > 0)
        {
            expected.Add((InsertEntries(batch, entries), entries.Count, "ledger entries"));
        }

        if (usage.Count > 0)
        {
            expected.Add((InsertUsage(batch, usage), usage.Count, "usage events"));
        }

        if (reversals.Count > 0)
        {
            var insert = new NpgsqlBatchCommand("""
                INSERT INTO credit_reversals (id, account_id, community_id, reservation_id, idempotency_key, amount, reason, created_at)
                SELECT * FROM unnest(@id, @account, @community, @reservation, @key, @amount, @reason, @at)
                """);
            insert.Parameters.AddWithValue("id", reversals.Select(r => r.Reversal.Id).ToArray());
            insert.Parameters.AddWithValue("account", reversals.Select(r => r.Reservation.AccountId).ToArray());
            insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = reversals.Select(r => r.Reservation.CommunityId).ToArray() });
            insert.Parameters.AddWithValue("reservation", reversals.Select(r => r.Reservation.Id).ToArray());
            insert.Parameters.AddWithValue("key", reversals.Select(r => r.Reversal.IdempotencyKey).ToArray());
            insert.Parameters.AddWithValue("amount", reversals.Select(r => r.Reversal.Amount.Micro).ToArray());
            insert.Parameters.AddWithValue("reason", reversals.Select(r => r.Reversal.Reason).ToArray());
            insert.Parameters.AddWithValue("at", reversals.Select(r => r.Reversal.CreatedAt).ToArray());
            batch.BatchCommands.Add(insert);
            expected.Add((insert, reversals.Count, "reversals"));
        }

        if (batch.BatchCommands.Count == 0)
        {
            return;
        }

        var finalizedAccounts = settled.Where(r => r.Status == ReservationStatus.Finalized).Select(r => r.AccountId).Distinct().ToArray();
        if (finalizedAccounts.Length > 0)
        {
            batch.BatchCommands.Add(SelectAvailable(finalizedAccounts));
        }

        // The touches are recorded before the writes run: if the flush fails, the unit fails with it (and a retry starts
        // a fresh unit), so the guard can check them in the flush's own round trip, as its last statement.
        foreach (var lot in changedLots)
        {
            _touches.AddLot(lot.Id, lot.NewEntries.Count);
            touchedAccounts.Add(lot.AccountId);
        }

        foreach (var reservation in created.Concat(settled).Concat(reversed))
        {
            _touches.AddReservation(reservation.Id);
            touchedAccounts.Add(reservation.AccountId);
        }

        var guard = new NpgsqlBatchCommand(LedgerInvariants.Incremental);
        LedgerInvariants.BindIncremental(guard.Parameters, touchedAccounts.Accounts, _touches.Lots, _touches.Reservations);
        batch.BatchCommands.Add(guard);
        await batch.PrepareAsync(cancellationToken);
        List<InvariantViolation> violations;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            // The writes return no rows; then come the balances (when a reservation was finalized) and the guard's violations.
            while (reader.FieldCount == 0 && await reader.NextResultAsync(cancellationToken))
            {
            }

            if (finalizedAccounts.Length > 0)
            {
                await ReadAvailableAsync(reader, finalizedAccounts, _availableAfterSave, cancellationToken);
                await reader.NextResultAsync(cancellationToken);
            }

            violations = await LedgerInvariants.ReadAsync(reader, cancellationToken);
        }

        foreach (var (command, rows, what) in expected)
        {
            if (command.RecordsAffected != rows)
            {
                // Rows locked by LoadAsync cannot have moved; if they did, nothing of this unit may commit.
                throw new InvalidOperationException($"Expected to write {rows} {what}, wrote {command.RecordsAffected}.");
            }
        }

        foreach (var lot in changedLots)
        {
            lot.AcceptEntries();
        }

        foreach (var reservation in created.Concat(settled).Concat(reversed))
        {
            reservation.AcceptChanges();
        }

        _minted.Clear();
        _guard = new GuardReadAhead(_touches.Version, touchedAccounts.Accounts.Count, db.StatementsSent, violations);
    }

    /// <summary>
    /// The guard's violations read by the unit's last flush, when nothing can have written since — no statement of
    /// this store outside a flush (<see cref="Command"/>), no touch recorded outside the domain, no statement through
    /// EF — and the touches are the ones it checked; null otherwise (the guard then reads them itself). A statement
    /// sent on the connection by other means after the flush goes unseen here, as it always went unchecked unless it
    /// recorded its touch (<see cref="TouchOutsideDomain"/>), which it must.
    /// </summary>
    public IReadOnlyList<InvariantViolation>? GuardReadWithLastFlush(IReadOnlyCollection<Guid> accounts) =>
        _guard is { } read && read.TouchesVersion == _touches.Version && read.Accounts == accounts.Count && read.EfStatements == db.StatementsSent
            ? read.Violations
            : null;

    /// <summary>
    /// What the last flush's guard statement found, and the state it checked: the touch record's version, how many
    /// accounts were touched (they are only ever added) and how many statements EF had sent.
    /// </summary>
    private sealed record GuardReadAhead(int TouchesVersion, int Accounts, long EfStatements, IReadOnlyList<InvariantViolation> Violations);

    /// <summary>What each account can spend now, in this unit: its unexpired lots' available credits, one round trip.</summary>
    public async Task<IReadOnlyDictionary<Guid, long>> AvailableAsync(IReadOnlyCollection<Guid> accounts, CancellationToken cancellationToken)
    {
        var ids = accounts.Distinct().ToArray();
        await using var batch = Batch();
        batch.BatchCommands.Add(SelectAvailable(ids));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        var available = new Dictionary<Guid, long>();
        await ReadAvailableAsync(reader, ids, available, cancellationToken);
        return available;
    }

    private NpgsqlBatchCommand SelectAvailable(Guid[] accounts)
    {
        var select = new NpgsqlBatchCommand("""
            SELECT account_id, sum(available)::bigint FROM credit_lots
            WHERE account_id = ANY(@accounts) AND available > 0 AND (expires_at IS NULL OR expires_at > @now)
            GROUP BY account_id
            """);
        select.Parameters.AddWithValue("accounts", accounts);
        select.Parameters.AddWithValue("now", Now);
        return select;
    }

    private static async Task ReadAvailableAsync(NpgsqlDataReader reader, Guid[] accounts, Dictionary<Guid, long> into, CancellationToken cancellationToken)
    {
        foreach (var account in accounts)
        {
            into[account] = 0;
        }

        while (await reader.ReadAsync(cancellationToken))
        {
            into[reader.GetGuid(0)] = reader.GetInt64(1);
        }
    }

    /// <summary>A statement of the unit outside the flush; it may write, so the guard reads again at the end.</summary>
    internal NpgsqlCommand Command(string sql)
    {
        _guard = null;
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        return new NpgsqlCommand(sql, connection, Transaction());
    }

    /// <summary>Starts a fresh unit when the transaction is not the one this store last worked in (a new command, or a retry).</summary>
    private void Unit()
    {
        var transaction = Transaction();
        if (ReferenceEquals(transaction, _unit))
        {
            return;
        }

        _unit = transaction;
        _now = time.GetUtcNow();
        _entered = false;
        _lots.Clear();
        _minted.Clear();
        _spendableLoaded.Clear();
        _accountCommunities.Clear();
        _accountDebts.Clear();
        _accounts.Clear();
        _keysLoaded.Clear();
        _byKey.Clear();
        _settleLoaded.Clear();
        _reservations.Clear();
        _touches.Clear();
        _availableAfterSave.Clear();
        _guard = null;
    }

    private NpgsqlTransaction Transaction() =>
        db.Database.CurrentTransaction?.GetDbTransaction() as NpgsqlTransaction
            ?? throw new InvalidOperationException("The ledger posts only inside the command's transaction.");

    // Batches only read, lock or flush; a flush reads the guard anew, so they leave the guard's read-ahead valid.
    private NpgsqlBatch Batch() => new((NpgsqlConnection)db.Database.GetDbConnection(), Transaction());

    /// <summary>
    /// The unit's first statements: its row-level-security scope and generic plans (the guard's
    /// statement is large enough that planning it anew for every command cost as much as running it).
    /// Returns how many result sets they produce.
    /// </summary>
    private int AddScope(NpgsqlBatch batch, LedgerScope scope)
    {
        if (_entered)
        {
            return 0;
        }

        _entered = true;
        var enter = new NpgsqlBatchCommand($"SELECT {TenantScope.Set("@scope")}, set_config('plan_cache_mode', 'force_generic_plan', true)");
        enter.Parameters.AddWithValue("scope", scope is LedgerScope.CommunityScope c ? TenantScope.Of(c.CommunityId) : TenantScope.Platform);
        batch.BatchCommands.Add(enter);
        if (scope is not LedgerScope.AccountsScope accounts)
        {
            return 1;
        }

        // Read in the platform scope (a developer account has no community), then narrowed to the
        // accounts' community for every statement after this one — when they all belong to one.
        var narrow = new NpgsqlBatchCommand($"""
            SELECT {TenantScope.Set("(SELECT CASE WHEN count(*) > 0 AND count(DISTINCT community_id) = 1 AND count(community_id) = count(*) THEN min(community_id::text) ELSE @platform END FROM credit_accounts WHERE id = ANY(@accounts))")}
            """);
        narrow.Parameters.AddWithValue("platform", TenantScope.Platform);
        narrow.Parameters.AddWithValue("accounts", accounts.AccountIds.Distinct().ToArray());
        batch.BatchCommands.Add(narrow);
        return 2;
    }

    private static async Task SkipAsync(DbDataReader reader, int results, CancellationToken cancellationToken)
    {
        for (var i = 0; i < results; i++)
        {
            await reader.NextResultAsync(cancellationToken);
        }
    }

    private NpgsqlBatchCommand LockLots(Guid[] accounts, Guid[] reservations)
    {
        var lockLots = new NpgsqlBatchCommand($"""
            SELECT {LotColumns} FROM credit_lots
            WHERE (account_id = ANY(@accounts) AND available > 0 AND (expires_at IS NULL OR expires_at > @now))
                OR id = ANY(ARRAY(SELECT unnest(hold_lots) FROM credit_reservations WHERE id = ANY(@reservations)))
            ORDER BY id FOR UPDATE
            """);
        lockLots.Parameters.AddWithValue("accounts", accounts);
        lockLots.Parameters.AddWithValue("reservations", reservations);
        lockLots.Parameters.AddWithValue("now", _now);
        return lockLots;
    }

    private NpgsqlBatchCommand InsertReservations(NpgsqlBatch batch, List<Reservation> created)
    {
        // hold_lots/hold_amounts are jagged, so they travel flattened with each row's slice bounds.
        var first = new int[created.Count];
        var last = new int[created.Count];
        var position = 0;
        for (var i = 0; i < created.Count; i++)
        {
            first[i] = position + 1;
            position += created[i].Holds.Count;
            last[i] = position;
        }

        var insert = new NpgsqlBatchCommand("""
            INSERT INTO credit_reservations (id, account_id, community_id, idempotency_key, held, hold_lots, hold_amounts, status, nft_id, created_at)
            SELECT v.id, v.account_id, v.community_id, v.key, v.held, (@lots::uuid[])[v.first:v.last], (@amounts::bigint[])[v.first:v.last],
                'pending', v.nft, @now
            FROM unnest(@id, @account, @community, @key, @held, @first, @last, @nft) AS v(id, account_id, community_id, key, held, first, last, nft)
            """);
        insert.Parameters.AddWithValue("now", Now);
        insert.Parameters.AddWithValue("lots", created.SelectMany(r => r.Holds.Select(h => h.LotId)).ToArray());
        insert.Parameters.AddWithValue("amounts", created.SelectMany(r => r.Holds.Select(h => h.Amount.Micro)).ToArray());
        insert.Parameters.AddWithValue("id", created.Select(r => r.Id).ToArray());
        insert.Parameters.AddWithValue("account", created.Select(r => r.AccountId).ToArray());
        insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = created.Select(r => r.CommunityId).ToArray() });
        insert.Parameters.AddWithValue("key", created.Select(r => r.IdempotencyKey).ToArray());
        insert.Parameters.AddWithValue("held", created.Select(r => r.Held.Micro).ToArray());
        insert.Parameters.AddWithValue("first", first);
        insert.Parameters.AddWithValue("last", last);
        insert.Parameters.Add(new NpgsqlParameter("nft", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = created.Select(r => r.NftId).ToArray() });
        batch.BatchCommands.Add(insert);
        return insert;
    }

    private NpgsqlBatchCommand InsertEntries(NpgsqlBatch batch, List<LedgerEntry> entries)
    {
        var insert = new NpgsqlBatchCommand("""
            INSERT INTO ledger_entries (account_id, community_id, lot_id, lot_seq, reservation_id, kind, amount,
                available_after, reserved_after, consumed_after, expired_after, taken_back_after, reason, created_at)
            SELECT account_id, community_id, lot_id, lot_seq, reservation_id, kind, amount,
                available_after, reserved_after, consumed_after, expired_after, taken_back_after, reason, @now
            FROM unnest(@account, @community, @lot, @seq, @reservation, @kind, @amount, @a, @r, @c, @e, @t, @reason)
                AS v(account_id, community_id, lot_id, lot_seq, reservation_id, kind, amount,
                    available_after, reserved_after, consumed_after, expired_after, taken_back_after, reason)
            """);
        insert.Parameters.AddWithValue("now", Now);
        insert.Parameters.AddWithValue("account", entries.Select(e => e.AccountId).ToArray());
        insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = entries.Select(e => e.CommunityId).ToArray() });
        insert.Parameters.AddWithValue("lot", entries.Select(e => e.LotId).ToArray());
        insert.Parameters.AddWithValue("seq", entries.Select(e => e.Seq).ToArray());
        insert.Parameters.Add(new NpgsqlParameter("reservation", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = entries.Select(e => e.ReservationId).ToArray() });
        insert.Parameters.AddWithValue("kind", entries.Select(e => e.Kind.Name()).ToArray());
        insert.Parameters.AddWithValue("amount", entries.Select(e => e.Amount.Micro).ToArray());
        insert.Parameters.AddWithValue("a", entries.Select(e => e.AvailableAfter.Micro).ToArray());
        insert.Parameters.AddWithValue("r", entries.Select(e => e.ReservedAfter.Micro).ToArray());
        insert.Parameters.AddWithValue("c", entries.Select(e => e.ConsumedAfter.Micro).ToArray());
        insert.Parameters.AddWithValue("e", entries.Select(e => e.ExpiredAfter.Micro).ToArray());
        insert.Parameters.AddWithValue("t", entries.Select(e => e.TakenBackAfter.Micro).ToArray());
        insert.Parameters.Add(new NpgsqlParameter("reason", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = entries.Select(e => e.Reason).ToArray() });
        batch.BatchCommands.Add(insert);
        return insert;
    }

    private NpgsqlBatchCommand InsertUsage(NpgsqlBatch batch, List<(Reservation Reservation, UsageRecord Usage)> usage)
    {
        var insert = new NpgsqlBatchCommand("""
            INSERT INTO usage_events (id, account_id, community_id, nft_id, pool_id, tokens_input, tokens_output, amount_micro, requested_micro,
                reservation_id, finalization_id, billing_method, accounting_mode, conservation_guard_result, created_at)
            SELECT id, account_id, community_id, nft_id, pool_id, tokens_input, tokens_output, amount_micro, requested_micro,
                reservation_id, finalization_id, billing_method, accounting_mode, true, @now
            FROM unnest(@id, @account, @community, @nft, @pool, @in, @out, @amount, @requested, @reservation, @finalization, @billing, @mode)
                AS v(id, account_id, community_id, nft_id, pool_id, tokens_input, tokens_output, amount_micro, requested_micro,
                    reservation_id, finalization_id, billing_method, accounting_mode)
            """);
        insert.Parameters.AddWithValue("now", Now);
        insert.Parameters.AddWithValue("id", usage.Select(_ => Guid.CreateVersion7()).ToArray());
        insert.Parameters.AddWithValue("account", usage.Select(u => u.Reservation.AccountId).ToArray());
        insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = usage.Select(u => u.Reservation.CommunityId).ToArray() });
        insert.Parameters.Add(new NpgsqlParameter("nft", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = usage.Select(u => u.Usage.Usage.NftId).ToArray() });
        insert.Parameters.Add(new NpgsqlParameter("pool", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = usage.Select(u => u.Usage.Usage.PoolId).ToArray() });
        insert.Parameters.AddWithValue("in", usage.Select(u => u.Usage.Usage.TokensInput).ToArray());
        insert.Parameters.AddWithValue("out", usage.Select(u => u.Usage.Usage.TokensOutput).ToArray());
        insert.Parameters.AddWithValue("amount", usage.Select(u => u.Usage.Charged.Micro).ToArray());
        insert.Parameters.AddWithValue("requested", usage.Select(u => u.Usage.Requested.Micro).ToArray());
        insert.Parameters.AddWithValue("reservation", usage.Select(u => u.Reservation.Id).ToArray());
        insert.Parameters.AddWithValue("finalization", usage.Select(u => u.Usage.FinalizationId).ToArray());
        insert.Parameters.AddWithValue("billing", usage.Select(u => u.Usage.Usage.BillingMethod).ToArray());
        insert.Parameters.AddWithValue("mode", usage.Select(u => u.Usage.Usage.AccountingMode).ToArray());
        batch.BatchCommands.Add(insert);
        return insert;
    }

    private const string ReservationColumns =
        "r.id, r.account_id, r.community_id, r.idempotency_key, r.held, r.status, r.charged, r.finalization_id, r.created_at, r.hold_lots, r.hold_amounts, r.nft_id";

    /// <summary>The advisory-lock spaces (first key of the two-int form) of reservation and reversal idempotency keys.</summary>
    private const int IdempotencyLockSpace = 0x4C_4B_01;

    private const int ReversalLockSpace = 0x4C_4B_02;

    private const int ClawbackLockSpace = 0x4C_4B_03;

    private const string LotColumns = "id, account_id, community_id, original, available, reserved, consumed, expired, entry_seq, expires_at, created_at, taken_back";

    private static Reservation ReadReservation(DbDataReader reader)
    {
        var lots = reader.GetFieldValue<Guid[]>(9);
        var amounts = reader.GetFieldValue<long[]>(10);
        return new Reservation(reader.GetGuid(0), reader.GetGuid(1), reader.IsDBNull(2) ? null : reader.GetGuid(2), reader.GetString(3),
            Money.FromMicro(reader.GetInt64(4)), [.. lots.Zip(amounts, (lot, amount) => new Hold(lot, Money.FromMicro(amount)))],
            ReservationStatuses.Parse(reader.GetString(5)), reader.IsDBNull(6) ? null : Money.FromMicro(reader.GetInt64(6)),
            reader.IsDBNull(7) ? null : reader.GetString(7), reader.IsDBNull(11) ? null : reader.GetString(11), reader.GetFieldValue<DateTimeOffset>(8));
    }

    /// <summary>Adds locked lots to the unit; a lot already in it keeps its in-memory state, which is newer than the row.</summary>
    private async Task<List<Lot>> ReadLotsAsync(DbDataReader reader, CancellationToken cancellationToken)
    {
        var read = new List<Lot>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var id = reader.GetGuid(0);
            if (!_lots.TryGetValue(id, out var lot))
            {
                lot = new Lot(id, reader.GetGuid(1), reader.IsDBNull(2) ? null : reader.GetGuid(2), Money.FromMicro(reader.GetInt64(3)),
                    Money.FromMicro(reader.GetInt64(4)), Money.FromMicro(reader.GetInt64(5)), Money.FromMicro(reader.GetInt64(6)),
                    Money.FromMicro(reader.GetInt64(7)), reader.GetInt32(8),
                    reader.IsDBNull(9) ? null : reader.GetFieldValue<DateTimeOffset>(9), reader.GetFieldValue<DateTimeOffset>(10),
                    Money.FromMicro(reader.GetInt64(11)));
                _lots[id] = lot;
            }

            read.Add(lot);
        }

        return read;
    }

    private static CreditLot Entity(Lot lot, string source, string sourceRef) => new()
    {
        Id = lot.Id, AccountId = lot.AccountId, CommunityId = lot.CommunityId, Source = source, SourceRef = sourceRef, Original = lot.Original.Micro,
        Available = lot.Available.Micro, Reserved = lot.Reserved.Micro, Consumed = lot.Consumed.Micro, Expired = lot.Expired.Micro,
        TakenBack = lot.TakenBack.Micro, EntrySeq = lot.Seq, ExpiresAt = lot.ExpiresAt, CreatedAt = lot.CreatedAt,
    };
}

/// <summary>The lots (with how many entries each got) and reservations a unit wrote; the guard checks exactly these.</summary>
public sealed class LedgerTouches
{
    private readonly Dictionary<Guid, int> _lots = [];
    private readonly HashSet<Guid> _reservations = [];

    public IReadOnlyDictionary<Guid, int> Lots => _lots;

    public IReadOnlyCollection<Guid> Reservations => _reservations;

    /// <summary>Grows with every touch recorded, so a reader can tell that the record has not changed since it looked.</summary>
    public int Version { get; private set; }

    internal void AddLot(Guid lotId, int entries)
    {
        _lots[lotId] = _lots.GetValueOrDefault(lotId) + entries;
        Version++;
    }

    internal void AddReservation(Guid reservationId)
    {
        _reservations.Add(reservationId);
        Version++;
    }

    internal void Clear()
    {
        _lots.Clear();
        _reservations.Clear();
        Version++;
    }
}
