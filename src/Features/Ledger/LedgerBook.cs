using System.Data.Common;
using Freeside.Features.Common;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Freeside.Features.Ledger;

/// <summary>
/// Posts ledger movements inside the current command's transaction, in three steps: <see cref="LoadAsync"/>
/// locks and reads every row the movements need in one round trip; <see cref="Reserve"/>,
/// <see cref="Finalize"/> and <see cref="Release"/> decide in memory against those locked rows; and
/// <see cref="FlushAsync"/> writes the outcome in one more round trip — so a batch of movements costs
/// the same round trips as one. One book per handler attempt: the transaction behavior may re-run the
/// whole unit after a deadlock, and a retry must start clean.
/// </summary>
internal sealed class LedgerBook
{
    private readonly FreesideDb _db;
    private readonly TouchedAccounts _touchedAccounts;
    private readonly LedgerTouches _touches;
    private readonly DateTimeOffset _now;
    private readonly Dictionary<Guid, LotState> _lots = [];
    private readonly HashSet<Guid> _spendableLoaded = [];
    private readonly Dictionary<Guid, Guid?> _accounts = [];
    private readonly HashSet<(Guid AccountId, string Key)> _keysLoaded = [];
    private readonly Dictionary<(Guid AccountId, string Key), ReservationState> _byKey = [];
    private readonly HashSet<Guid> _settleLoaded = [];
    private readonly Dictionary<Guid, ReservationState> _reservations = [];
    private readonly List<ReservationState> _created = [];
    private readonly List<ReservationState> _settled = [];
    private readonly HashSet<Guid> _dirty = [];
    private readonly List<PendingEntry> _entries = [];
    private readonly List<PendingUsage> _usage = [];
    private bool _entered;

    public LedgerBook(FreesideDb db, TouchedAccounts touchedAccounts, LedgerTouches touches, TimeProvider time)
    {
        _db = db;
        _touchedAccounts = touchedAccounts;
        _touches = touches;
        _touches.Clear();
        _now = time.GetUtcNow();
    }

    public DateTimeOffset Now => _now;

    /// <summary>Ledger commands act for the platform on account ids; tenant isolation applies to reads by community.</summary>
    public async Task EnterAsync(CancellationToken cancellationToken)
    {
        await _db.EnterPlatformScopeAsync(cancellationToken);
        _entered = true;
    }

    public async Task<Guid> OpenAccountAsync(Guid? communityId, Guid? developerId, CancellationToken cancellationToken)
    {
        var kind = communityId is not null ? "community" : "developer";
        await using (var insert = Command(communityId is not null
            ? "INSERT INTO credit_accounts (id, kind, community_id, created_at) VALUES (@id, 'community', @owner, @now) ON CONFLICT (community_id) WHERE kind = 'community' DO NOTHING"
            : "INSERT INTO credit_accounts (id, kind, developer_id, created_at) VALUES (@id, 'developer', @owner, @now) ON CONFLICT (developer_id) WHERE kind = 'developer' DO NOTHING"))
        {
            insert.Parameters.AddWithValue("id", Guid.CreateVersion7());
            insert.Parameters.AddWithValue("owner", (communityId ?? developerId)!.Value);
            insert.Parameters.AddWithValue("now", _now);
            await insert.ExecutePreparedAsync(cancellationToken);
        }

        await using var select = Command($"SELECT id FROM credit_accounts WHERE kind = '{kind}' AND {(communityId is not null ? "community_id" : "developer_id")} = @owner");
        select.Parameters.AddWithValue("owner", (communityId ?? developerId)!.Value);
        return (Guid)(await select.ExecuteScalarPreparedAsync(cancellationToken))!;
    }

    /// <summary>Mints a lot once per (source, source_ref); a replay returns the lot already minted.</summary>
    public async Task<(CreditLot Lot, bool Minted)> MintAsync(
        Guid accountId, Guid? communityId, string source, string sourceRef, Money amount, DateTimeOffset? expiresAt, string? reason,
        CancellationToken cancellationToken)
    {
        var id = Guid.CreateVersion7();
        await using (var insert = Command("""
            INSERT INTO credit_lots (id, account_id, community_id, source, source_ref, original, available, reserved, consumed, expired, entry_seq, expires_at, created_at)
            VALUES (@id, @account, @community, @source, @ref, @amount, @amount, 0, 0, 0, 1, @expires, @now)
            ON CONFLICT (source, source_ref) DO NOTHING
            """))
        {
            insert.Parameters.AddWithValue("id", id);
            insert.Parameters.AddWithValue("account", accountId);
            insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Uuid) { Value = (object?)communityId ?? DBNull.Value });
            insert.Parameters.AddWithValue("source", source);
            insert.Parameters.AddWithValue("ref", sourceRef);
            insert.Parameters.AddWithValue("amount", amount.Micro);
            insert.Parameters.Add(new NpgsqlParameter("expires", NpgsqlDbType.TimestampTz) { Value = (object?)expiresAt ?? DBNull.Value });
            insert.Parameters.AddWithValue("now", _now);
            if (await insert.ExecutePreparedAsync(cancellationToken) == 1)
            {
                var lot = new LotState(id, accountId, communityId, amount.Micro, amount.Micro, 0, 0, 0, 1, expiresAt, _now);
                _lots[id] = lot;
                _entries.Add(new PendingEntry(lot, null, EntryKind.Mint, amount.Micro, reason));
                _touches.AddLot(id, 1);
                _touchedAccounts.Add(accountId);
                return (lot.ToEntity(source, sourceRef), true);
            }
        }

        var existing = await _db.Set<CreditLot>().AsNoTracking()
            .SingleAsync(l => l.Source == source && l.SourceRef == sourceRef, cancellationToken);
        return (existing, false);
    }

    /// <summary>
    /// Everything a set of movements needs, locked and read in one round trip: the idempotency keys of
    /// the reserves (a transaction-scoped advisory lock each, so a key's existence read here stays true
    /// until commit), the reservations already holding those keys, the reservations to settle (FOR
    /// UPDATE), every lot the movements may touch (FOR UPDATE) and the reserving accounts. Locks are
    /// always taken in the same order — keys, reservations, lots, each sorted — so two books never
    /// deadlock. After this, <see cref="Reserve"/>, <see cref="Finalize"/> and <see cref="Release"/>
    /// decide in memory and <see cref="FlushAsync"/> writes everything in one more round trip.
    /// </summary>
    public async Task LoadAsync(IReadOnlyCollection<(Guid AccountId, string Key)> reserveKeys, IReadOnlyCollection<Guid> settling, CancellationToken cancellationToken)
    {
        var keys = reserveKeys.Where(k => !_keysLoaded.Contains(k)).Distinct().ToArray();
        var accounts = keys.Select(k => k.AccountId).Where(a => !_spendableLoaded.Contains(a)).Distinct().ToArray();
        var reservations = settling.Where(id => !_reservations.ContainsKey(id)).Distinct().Order().ToArray();
        await using var batch = Batch();
        if (!_entered)
        {
            // Generic plans: the guard's statement is large enough that planning it anew for every
            // command cost as much as running it.
            batch.BatchCommands.Add(new NpgsqlBatchCommand(
                "SELECT set_config('freeside.community_id', '*', true), set_config('plan_cache_mode', 'force_generic_plan', true)"));
        }

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
            var lockLots = new NpgsqlBatchCommand($"""
                SELECT {LotColumns} FROM credit_lots
                WHERE (account_id = ANY(@accounts) AND available > 0 AND (expires_at IS NULL OR expires_at > @now))
                    OR id = ANY(ARRAY(SELECT unnest(hold_lots) FROM credit_reservations WHERE id = ANY(@reservations)))
                ORDER BY id FOR UPDATE
                """);
            lockLots.Parameters.AddWithValue("accounts", accounts);
            lockLots.Parameters.AddWithValue("reservations", reservations);
            lockLots.Parameters.AddWithValue("now", _now);
            batch.BatchCommands.Add(lockLots);
        }

        if (accounts.Length > 0)
        {
            var readAccounts = new NpgsqlBatchCommand("SELECT id, community_id FROM credit_accounts WHERE id = ANY(@accounts)");
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
            if (!_entered)
            {
                await reader.NextResultAsync(cancellationToken);
            }

            if (keys.Length > 0)
            {
                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    var known = ReadReservation(reader);
                    _byKey[(known.AccountId, known.IdempotencyKey)] = _reservations.TryGetValue(known.Id, out var loaded) ? loaded : known;
                }

                await reader.NextResultAsync(cancellationToken);
            }

            if (reservations.Length > 0)
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    var locked = ReadReservation(reader);
                    _reservations[locked.Id] = locked;
                    if (_byKey.ContainsKey((locked.AccountId, locked.IdempotencyKey)))
                    {
                        _byKey[(locked.AccountId, locked.IdempotencyKey)] = locked;
                    }
                }

                await reader.NextResultAsync(cancellationToken);
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
                    _accounts[reader.GetGuid(0)] = reader.IsDBNull(1) ? null : reader.GetGuid(1);
                }
            }
        }

        _entered = true;
        _keysLoaded.UnionWith(keys);
        _spendableLoaded.UnionWith(accounts);
        _settleLoaded.UnionWith(reservations);
    }

    /// <summary>
    /// Holds the amount across the account's lots, earliest expiry then oldest first, or refuses it
    /// whole. A key already used returns its reservation (same amount) or 409 (different amount).
    /// Needs <see cref="LoadAsync"/> for the key first.
    /// </summary>
    public Result<ReservationView> Reserve(ReserveRequest request)
    {
        var key = (request.AccountId, request.IdempotencyKey);
        if (!_keysLoaded.Contains(key))
        {
            throw new InvalidOperationException("Load the idempotency key before reserving with it.");
        }

        if (_byKey.TryGetValue(key, out var known))
        {
            return known.Held == request.Amount.Micro ? known.View(replayed: true) : new IdempotencyKeyReused(request.IdempotencyKey);
        }

        if (!_accounts.TryGetValue(request.AccountId, out var communityId))
        {
            return new NotFound("credit account", request.AccountId.ToString());
        }

        var candidates = _lots.Values
            .Where(l => l.AccountId == request.AccountId && l.Available > 0 && (l.ExpiresAt is null || l.ExpiresAt > _now))
            .OrderBy(l => l.ExpiresAt ?? DateTimeOffset.MaxValue).ThenBy(l => l.CreatedAt).ThenBy(l => l.Id)
            .ToList();
        var available = candidates.Aggregate(Money.Zero, (sum, l) => sum + Money.FromMicro(l.Available));
        if (request.Amount > available)
        {
            return new InsufficientCredits(request.Amount.Micro, available.Micro);
        }

        var reservation = new ReservationState(Guid.CreateVersion7(), request.AccountId, communityId, request.IdempotencyKey, request.Amount.Micro,
            ReservationStatus.Pending, Charged: null, FinalizationId: null, _now) { NftId = request.NftId };
        var left = request.Amount;
        foreach (var lot in candidates)
        {
            if (left.IsZero)
            {
                break;
            }

            var take = Money.Min(left, Money.FromMicro(lot.Available));
            lot.Available = checked(lot.Available - take.Micro);
            lot.Reserved = checked(lot.Reserved + take.Micro);
            reservation.HoldLots.Add(lot.Id);
            reservation.HoldAmounts.Add(take.Micro);
            Record(lot, reservation.Id, EntryKind.Hold, take.Micro, null);
            left -= take;
        }

        _byKey[key] = reservation;
        _reservations[reservation.Id] = reservation;
        _created.Add(reservation);
        _touches.AddReservation(reservation.Id);
        _touchedAccounts.Add(request.AccountId);
        return reservation.View(replayed: false);
    }

    /// <summary>
    /// Charges at most the hold and releases the rest, once; a second finalize returns the first result.
    /// Needs <see cref="LoadAsync"/> for the reservation first.
    /// </summary>
    public Result<FinalizationView> Finalize(FinalizeRequest request, LedgerMetrics metrics)
    {
        if (Settleable(request.AccountId, request.ReservationId) is not { } reservation)
        {
            return new NotFound("reservation", request.ReservationId.ToString());
        }

        if (reservation.Status == ReservationStatus.Finalized)
        {
            return new FinalizationView(reservation.Id, reservation.AccountId, reservation.Held, reservation.Charged!.Value,
                reservation.Held - reservation.Charged.Value, false, reservation.FinalizationId!, Replayed: true);
        }

        if (reservation.Status != ReservationStatus.Pending)
        {
            return new ReservationSettled(reservation.Id, reservation.Status);
        }

        var clamped = request.Requested.Micro > reservation.Held;
        if (clamped)
        {
            metrics.ChargeClamped();
        }

        var charged = Math.Min(request.Requested.Micro, reservation.Held);
        var toCharge = charged;
        for (var h = 0; h < reservation.HoldLots.Count; h++)
        {
            var lot = HeldLot(reservation.HoldLots[h]);
            var held = reservation.HoldAmounts[h];
            var charge = Math.Min(held, toCharge);
            toCharge -= charge;
            if (charge > 0)
            {
                lot.Reserved = checked(lot.Reserved - charge);
                lot.Consumed = checked(lot.Consumed + charge);
                Record(lot, reservation.Id, EntryKind.Charge, charge, null);
            }

            if (held - charge > 0)
            {
                lot.Reserved = checked(lot.Reserved - (held - charge));
                lot.Available = checked(lot.Available + (held - charge));
                Record(lot, reservation.Id, EntryKind.Release, held - charge, "unused part of the hold");
            }
        }

        reservation.Status = ReservationStatus.Finalized;
        reservation.Charged = charged;
        reservation.FinalizationId = request.FinalizationId;
        _settled.Add(reservation);
        _usage.Add(new PendingUsage(reservation.AccountId, reservation.CommunityId, reservation.Id, charged, request.Requested.Micro,
            request.FinalizationId, request.Usage));
        _touches.AddReservation(reservation.Id);
        _touchedAccounts.Add(reservation.AccountId);
        return new FinalizationView(reservation.Id, reservation.AccountId, reservation.Held, charged, reservation.Held - charged,
            clamped, request.FinalizationId, Replayed: false);
    }

    /// <summary>
    /// Returns the whole hold: 'released' by a caller, or 'expired' by the orphan sweep (entry kind
    /// expire_hold). Needs <see cref="LoadAsync"/> for the reservation first.
    /// </summary>
    public Result<ReservationView> Release(ReleaseRequest request)
    {
        if (Settleable(request.AccountId, request.ReservationId) is not { } reservation)
        {
            return new NotFound("reservation", request.ReservationId.ToString());
        }

        if (reservation.Status is ReservationStatus.Released or ReservationStatus.Expired)
        {
            return reservation.View(replayed: true);
        }

        if (reservation.Status != ReservationStatus.Pending)
        {
            return new ReservationSettled(reservation.Id, reservation.Status);
        }

        for (var h = 0; h < reservation.HoldLots.Count; h++)
        {
            var lot = HeldLot(reservation.HoldLots[h]);
            lot.Reserved = checked(lot.Reserved - reservation.HoldAmounts[h]);
            lot.Available = checked(lot.Available + reservation.HoldAmounts[h]);
            Record(lot, reservation.Id, request.Expire ? EntryKind.ExpireHold : EntryKind.Release, reservation.HoldAmounts[h], request.Reason);
        }

        reservation.Status = request.Expire ? ReservationStatus.Expired : ReservationStatus.Released;
        reservation.SettleReason = request.Reason;
        _settled.Add(reservation);
        _touches.AddReservation(reservation.Id);
        _touchedAccounts.Add(reservation.AccountId);
        return reservation.View(replayed: false);
    }

    /// <summary>
    /// Gives back part of a finalized reservation's charge to the lots it came from, last charged
    /// first. The key's advisory lock and the reservation's row lock make a replay, a duplicate and a
    /// concurrent reversal of the same charge each see every earlier one.
    /// </summary>
    public async Task<Result<ReverseCharge.ReversalView>> ReverseAsync(ReverseRequest request, CancellationToken cancellationToken)
    {
        Guid accountId;
        await using (var account = Command("SELECT id FROM credit_accounts WHERE community_id = @community AND kind = 'community'"))
        {
            account.Parameters.AddWithValue("community", request.CommunityId);
            if (await account.ExecuteScalarPreparedAsync(cancellationToken) is not Guid id)
            {
                return new NotFound("reservation", request.ReservationId.ToString());
            }

            accountId = id;
        }

        await using (var lockKey = Command("SELECT pg_advisory_xact_lock(@space, hashtext(@account::text || '/' || @key))"))
        {
            lockKey.Parameters.AddWithValue("space", ReversalLockSpace);
            lockKey.Parameters.AddWithValue("account", accountId);
            lockKey.Parameters.AddWithValue("key", request.IdempotencyKey);
            await lockKey.ExecuteScalarPreparedAsync(cancellationToken);
        }

        await LoadAsync([], [request.ReservationId], cancellationToken);
        var reservation = Settleable(accountId, request.ReservationId);
        var reversed = new Dictionary<Guid, (long Charged, long Reversed)>();
        var earlier = new List<(Guid Id, Guid ReservationId, long Amount, string Reason, DateTimeOffset CreatedAt, bool SameKey)>();
        await using (var read = Command("""
            SELECT id, reservation_id, amount, reason, created_at, account_id = @account AND idempotency_key = @key FROM credit_reversals
            WHERE (account_id = @account AND idempotency_key = @key) OR reservation_id = @reservation
            """))
        {
            read.Parameters.AddWithValue("account", accountId);
            read.Parameters.AddWithValue("key", request.IdempotencyKey);
            read.Parameters.AddWithValue("reservation", request.ReservationId);
            await using var reader = await read.ExecuteReaderPreparedAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                earlier.Add((reader.GetGuid(0), reader.GetGuid(1), reader.GetInt64(2), reader.GetString(3), reader.GetFieldValue<DateTimeOffset>(4), reader.GetBoolean(5)));
            }
        }

        var reversedTotal = earlier.Where(e => e.ReservationId == request.ReservationId).Sum(e => e.Amount);
        if (earlier.Where(e => e.SameKey).Select(e => (Found: true, Reversal: e)).FirstOrDefault() is { Found: true, Reversal: var replay })
        {
            return replay.ReservationId == request.ReservationId && replay.Amount == request.Amount.Micro && reservation is not null
                ? new ReverseCharge.ReversalView(replay.Id, replay.ReservationId, accountId, replay.Amount, reservation.Charged ?? 0, reversedTotal,
                    replay.Reason, replay.CreatedAt, Replayed: true)
                : new IdempotencyKeyReused(request.IdempotencyKey);
        }

        if (reservation is null)
        {
            return new NotFound("reservation", request.ReservationId.ToString());
        }

        if (reservation.Status != ReservationStatus.Finalized)
        {
            return new ReservationNotCharged(reservation.Id, reservation.Status);
        }

        var reversible = reservation.Charged!.Value - reversedTotal;
        if (request.Amount.Micro > reversible)
        {
            return new ReversalExceedsCharge(reservation.Id, request.Amount.Micro, reversible);
        }

        await using (var perLot = Command("""
            SELECT lot_id, coalesce(sum(amount) FILTER (WHERE kind = 'charge'), 0), coalesce(sum(amount) FILTER (WHERE kind = 'reverse'), 0)
            FROM ledger_entries WHERE reservation_id = @reservation GROUP BY lot_id
            """))
        {
            perLot.Parameters.AddWithValue("reservation", reservation.Id);
            await using var reader = await perLot.ExecuteReaderPreparedAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                reversed[reader.GetGuid(0)] = (reader.GetInt64(1), reader.GetInt64(2));
            }
        }

        var left = request.Amount.Micro;
        for (var h = reservation.HoldLots.Count - 1; h >= 0 && left > 0; h--)
        {
            var (charged, already) = reversed.GetValueOrDefault(reservation.HoldLots[h]);
            var give = Math.Min(left, charged - already);
            if (give <= 0)
            {
                continue;
            }

            var lot = HeldLot(reservation.HoldLots[h]);
            lot.Consumed = checked(lot.Consumed - give);
            lot.Available = checked(lot.Available + give);
            Record(lot, reservation.Id, EntryKind.Reverse, give, request.Reason);
            reversed[lot.Id] = (charged, already + give);
            left -= give;
        }

        if (left != 0)
        {
            throw new InvalidOperationException($"Reservation {reservation.Id}'s charge entries do not cover its recorded charge.");
        }

        var reversalId = Guid.CreateVersion7();
        await using (var insert = Command("""
            INSERT INTO credit_reversals (id, account_id, community_id, reservation_id, idempotency_key, amount, reason, created_at)
            VALUES (@id, @account, @community, @reservation, @key, @amount, @reason, @now)
            """))
        {
            insert.Parameters.AddWithValue("id", reversalId);
            insert.Parameters.AddWithValue("account", accountId);
            insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Uuid) { Value = (object?)reservation.CommunityId ?? DBNull.Value });
            insert.Parameters.AddWithValue("reservation", reservation.Id);
            insert.Parameters.AddWithValue("key", request.IdempotencyKey);
            insert.Parameters.AddWithValue("amount", request.Amount.Micro);
            insert.Parameters.AddWithValue("reason", request.Reason);
            insert.Parameters.AddWithValue("now", _now);
            await insert.ExecutePreparedAsync(cancellationToken);
        }

        _touches.AddReservation(reservation.Id);
        _touchedAccounts.Add(accountId);
        return new ReverseCharge.ReversalView(reversalId, reservation.Id, accountId, request.Amount.Micro, reservation.Charged.Value,
            reversedTotal + request.Amount.Micro, request.Reason, _now, Replayed: false);
    }

    private ReservationState? Settleable(Guid? accountId, Guid reservationId)
    {
        if (!_settleLoaded.Contains(reservationId) && !_reservations.ContainsKey(reservationId))
        {
            throw new InvalidOperationException("Load the reservation before settling it.");
        }

        return _reservations.TryGetValue(reservationId, out var reservation) && (accountId is null || reservation.AccountId == accountId)
            ? reservation
            : null;
    }

    private LotState HeldLot(Guid lotId) =>
        _lots.TryGetValue(lotId, out var lot) ? lot : throw new InvalidOperationException($"A reservation holds lot {lotId}, which was not locked.");

    /// <summary>Moves what is still available on lots past their expiry to 'expired'; holds on them stay until settled.</summary>
    public async Task<int> ExpireLotsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var select = Command($"""
            SELECT {LotColumns} FROM credit_lots
            WHERE expires_at <= @now AND available > 0
            ORDER BY id LIMIT @limit FOR UPDATE SKIP LOCKED
            """);
        select.Parameters.AddWithValue("now", _now);
        select.Parameters.AddWithValue("limit", limit);
        var lots = await ReadLotsAsync(select, cancellationToken);
        foreach (var lot in lots)
        {
            var amount = lot.Available;
            lot.Available = 0;
            lot.Expired = checked(lot.Expired + amount);
            Record(lot, null, EntryKind.Expire, amount, "lot expired");
            _touchedAccounts.Add(lot.AccountId);
        }

        return lots.Count;
    }

    /// <summary>
    /// Writes everything the book decided in one round trip: the new reservations, the settled ones,
    /// every changed lot once, every entry and every usage event, one statement each. Call before the
    /// handler returns; the conservation guard then checks what was written.
    /// </summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        await using var batch = Batch();
        var expected = new List<(NpgsqlBatchCommand Command, int Rows, string What)>();
        if (_created.Count > 0)
        {
            // hold_lots/hold_amounts are jagged, so they travel flattened with each row's slice bounds.
            var first = new int[_created.Count];
            var last = new int[_created.Count];
            var position = 0;
            for (var i = 0; i < _created.Count; i++)
            {
                first[i] = position + 1;
                position += _created[i].HoldLots.Count;
                last[i] = position;
            }

            var insert = new NpgsqlBatchCommand("""
                INSERT INTO credit_reservations (id, account_id, community_id, idempotency_key, held, hold_lots, hold_amounts, status, nft_id, created_at)
                SELECT v.id, v.account_id, v.community_id, v.key, v.held, (@lots::uuid[])[v.first:v.last], (@amounts::bigint[])[v.first:v.last],
                    'pending', v.nft, @now
                FROM unnest(@id, @account, @community, @key, @held, @first, @last, @nft) AS v(id, account_id, community_id, key, held, first, last, nft)
                """);
            insert.Parameters.AddWithValue("now", _now);
            insert.Parameters.AddWithValue("lots", _created.SelectMany(r => r.HoldLots).ToArray());
            insert.Parameters.AddWithValue("amounts", _created.SelectMany(r => r.HoldAmounts).ToArray());
            insert.Parameters.AddWithValue("id", _created.Select(r => r.Id).ToArray());
            insert.Parameters.AddWithValue("account", _created.Select(r => r.AccountId).ToArray());
            insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = _created.Select(r => r.CommunityId).ToArray() });
            insert.Parameters.AddWithValue("key", _created.Select(r => r.IdempotencyKey).ToArray());
            insert.Parameters.AddWithValue("held", _created.Select(r => r.Held).ToArray());
            insert.Parameters.AddWithValue("first", first);
            insert.Parameters.AddWithValue("last", last);
            insert.Parameters.Add(new NpgsqlParameter("nft", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = _created.Select(r => r.NftId).ToArray() });
            batch.BatchCommands.Add(insert);
            expected.Add((insert, _created.Count, "new reservations"));
        }

        if (_settled.Count > 0)
        {
            // Each row was locked pending in LoadAsync; the status condition is the database's own check of that.
            var update = new NpgsqlBatchCommand("""
                UPDATE credit_reservations r
                SET status = v.status, charged = v.charged, finalization_id = v.finalization_id, settle_reason = v.reason, settled_at = @now
                FROM unnest(@id, @status, @charged, @finalization, @reason) AS v(id, status, charged, finalization_id, reason)
                WHERE r.id = v.id AND r.id = ANY(@id) AND r.status = 'pending'
                """);
            update.Parameters.AddWithValue("now", _now);
            update.Parameters.AddWithValue("id", _settled.Select(r => r.Id).ToArray());
            update.Parameters.AddWithValue("status", _settled.Select(r => r.Status).ToArray());
            update.Parameters.Add(new NpgsqlParameter("charged", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = _settled.Select(r => r.Charged).ToArray() });
            update.Parameters.Add(new NpgsqlParameter("finalization", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = _settled.Select(r => r.FinalizationId).ToArray() });
            update.Parameters.Add(new NpgsqlParameter("reason", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = _settled.Select(r => r.SettleReason).ToArray() });
            batch.BatchCommands.Add(update);
            expected.Add((update, _settled.Count, "settled reservations"));
        }

        if (_dirty.Count > 0)
        {
            var lots = _dirty.Select(id => _lots[id]).OrderBy(l => l.Id).ToList();
            var update = new NpgsqlBatchCommand("""
                UPDATE credit_lots l
                SET available = v.available, reserved = v.reserved, consumed = v.consumed, expired = v.expired, entry_seq = v.seq
                FROM unnest(@ids, @available, @reserved, @consumed, @expired, @seq) AS v(id, available, reserved, consumed, expired, seq)
                WHERE l.id = v.id AND l.id = ANY(@ids)
                """);
            update.Parameters.AddWithValue("ids", lots.Select(l => l.Id).ToArray());
            update.Parameters.AddWithValue("available", lots.Select(l => l.Available).ToArray());
            update.Parameters.AddWithValue("reserved", lots.Select(l => l.Reserved).ToArray());
            update.Parameters.AddWithValue("consumed", lots.Select(l => l.Consumed).ToArray());
            update.Parameters.AddWithValue("expired", lots.Select(l => l.Expired).ToArray());
            update.Parameters.AddWithValue("seq", lots.Select(l => l.Seq).ToArray());
            batch.BatchCommands.Add(update);
            expected.Add((update, lots.Count, "locked lots"));
        }

        if (_entries.Count > 0)
        {
            var insert = new NpgsqlBatchCommand("""
                INSERT INTO ledger_entries (account_id, community_id, lot_id, lot_seq, reservation_id, kind, amount,
                    available_after, reserved_after, consumed_after, expired_after, reason, created_at)
                SELECT account_id, community_id, lot_id, lot_seq, reservation_id, kind, amount,
                    available_after, reserved_after, consumed_after, expired_after, reason, @now
                FROM unnest(@account, @community, @lot, @seq, @reservation, @kind, @amount, @a, @r, @c, @e, @reason)
                    AS v(account_id, community_id, lot_id, lot_seq, reservation_id, kind, amount,
                        available_after, reserved_after, consumed_after, expired_after, reason)
                """);
            insert.Parameters.AddWithValue("now", _now);
            insert.Parameters.AddWithValue("account", _entries.Select(e => e.AccountId).ToArray());
            insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = _entries.Select(e => e.CommunityId).ToArray() });
            insert.Parameters.AddWithValue("lot", _entries.Select(e => e.LotId).ToArray());
            insert.Parameters.AddWithValue("seq", _entries.Select(e => e.Seq).ToArray());
            insert.Parameters.Add(new NpgsqlParameter("reservation", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = _entries.Select(e => e.ReservationId).ToArray() });
            insert.Parameters.AddWithValue("kind", _entries.Select(e => EntryKinds.Name(e.Kind)).ToArray());
            insert.Parameters.AddWithValue("amount", _entries.Select(e => e.Amount).ToArray());
            insert.Parameters.AddWithValue("a", _entries.Select(e => e.AvailableAfter).ToArray());
            insert.Parameters.AddWithValue("r", _entries.Select(e => e.ReservedAfter).ToArray());
            insert.Parameters.AddWithValue("c", _entries.Select(e => e.ConsumedAfter).ToArray());
            insert.Parameters.AddWithValue("e", _entries.Select(e => e.ExpiredAfter).ToArray());
            insert.Parameters.Add(new NpgsqlParameter("reason", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = _entries.Select(e => e.Reason).ToArray() });
            batch.BatchCommands.Add(insert);
            expected.Add((insert, _entries.Count, "ledger entries"));
        }

        if (_usage.Count > 0)
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
            insert.Parameters.AddWithValue("now", _now);
            insert.Parameters.AddWithValue("id", _usage.Select(_ => Guid.CreateVersion7()).ToArray());
            insert.Parameters.AddWithValue("account", _usage.Select(u => u.AccountId).ToArray());
            insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = _usage.Select(u => u.CommunityId).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter("nft", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = _usage.Select(u => u.Usage.NftId).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter("pool", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = _usage.Select(u => u.Usage.PoolId).ToArray() });
            insert.Parameters.AddWithValue("in", _usage.Select(u => u.Usage.TokensInput).ToArray());
            insert.Parameters.AddWithValue("out", _usage.Select(u => u.Usage.TokensOutput).ToArray());
            insert.Parameters.AddWithValue("amount", _usage.Select(u => u.Charged).ToArray());
            insert.Parameters.AddWithValue("requested", _usage.Select(u => u.Requested).ToArray());
            insert.Parameters.AddWithValue("reservation", _usage.Select(u => u.ReservationId).ToArray());
            insert.Parameters.AddWithValue("finalization", _usage.Select(u => u.FinalizationId).ToArray());
            insert.Parameters.AddWithValue("billing", _usage.Select(u => u.Usage.BillingMethod).ToArray());
            insert.Parameters.AddWithValue("mode", _usage.Select(u => u.Usage.AccountingMode).ToArray());
            batch.BatchCommands.Add(insert);
            expected.Add((insert, _usage.Count, "usage events"));
        }

        if (batch.BatchCommands.Count == 0)
        {
            return;
        }

        await batch.PrepareAsync(cancellationToken);
        await batch.ExecuteNonQueryAsync(cancellationToken);
        foreach (var (command, rows, what) in expected)
        {
            if (command.RecordsAffected != rows)
            {
                // Rows locked in LoadAsync cannot have moved; if they did, nothing of this unit may commit.
                throw new InvalidOperationException($"Expected to write {rows} {what}, wrote {command.RecordsAffected}.");
            }
        }

        _created.Clear();
        _settled.Clear();
        _dirty.Clear();
        _entries.Clear();
        _usage.Clear();
    }

    internal NpgsqlCommand Command(string sql)
    {
        var connection = (NpgsqlConnection)_db.Database.GetDbConnection();
        var transaction = _db.Database.CurrentTransaction?.GetDbTransaction() as NpgsqlTransaction
            ?? throw new InvalidOperationException("The ledger posts only inside the command's transaction.");
        return new NpgsqlCommand(sql, connection, transaction);
    }

    private void Record(LotState lot, Guid? reservationId, EntryKind kind, long amount, string? reason)
    {
        lot.Seq++;
        _dirty.Add(lot.Id);
        _entries.Add(new PendingEntry(lot, reservationId, kind, amount, reason));
        _touches.AddLot(lot.Id, 1);
        _touchedAccounts.Add(lot.AccountId);
    }

    private const string ReservationColumns =
        "r.id, r.account_id, r.community_id, r.idempotency_key, r.held, r.status, r.charged, r.finalization_id, r.created_at, r.hold_lots, r.hold_amounts";

    /// <summary>The advisory-lock spaces (first key of the two-int form) of reservation and reversal idempotency keys.</summary>
    private const int IdempotencyLockSpace = 0x4C_4B_01;

    private const int ReversalLockSpace = 0x4C_4B_02;

    private static ReservationState ReadReservation(DbDataReader reader) =>
        new(reader.GetGuid(0), reader.GetGuid(1), reader.IsDBNull(2) ? null : reader.GetGuid(2), reader.GetString(3), reader.GetInt64(4),
            reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetInt64(6), reader.IsDBNull(7) ? null : reader.GetString(7),
            reader.GetFieldValue<DateTimeOffset>(8))
        {
            HoldLots = [.. reader.GetFieldValue<Guid[]>(9)],
            HoldAmounts = [.. reader.GetFieldValue<long[]>(10)],
        };

    private const string LotColumns = "id, account_id, community_id, original, available, reserved, consumed, expired, entry_seq, expires_at, created_at";

    /// <summary>Adds locked lots to the cache; a lot already cached keeps its in-memory state, which is newer than the row.</summary>
    private async Task<List<LotState>> ReadLotsAsync(NpgsqlCommand select, CancellationToken cancellationToken)
    {
        await using var reader = await select.ExecuteReaderPreparedAsync(cancellationToken);
        return await ReadLotsAsync(reader, cancellationToken);
    }

    private async Task<List<LotState>> ReadLotsAsync(DbDataReader reader, CancellationToken cancellationToken)
    {
        var read = new List<LotState>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var id = reader.GetGuid(0);
            if (!_lots.TryGetValue(id, out var lot))
            {
                lot = new LotState(id, reader.GetGuid(1), reader.IsDBNull(2) ? null : reader.GetGuid(2), reader.GetInt64(3),
                    reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetInt32(8),
                    reader.IsDBNull(9) ? null : reader.GetFieldValue<DateTimeOffset>(9), reader.GetFieldValue<DateTimeOffset>(10));
                _lots[id] = lot;
            }

            read.Add(lot);
        }

        return read;
    }

    private NpgsqlBatch Batch()
    {
        var connection = (NpgsqlConnection)_db.Database.GetDbConnection();
        var transaction = _db.Database.CurrentTransaction?.GetDbTransaction() as NpgsqlTransaction
            ?? throw new InvalidOperationException("The ledger posts only inside the command's transaction.");
        return new NpgsqlBatch(connection, transaction);
    }

    private sealed record PendingUsage(Guid AccountId, Guid? CommunityId, Guid ReservationId, long Charged, long Requested, string FinalizationId, Usage Usage);

    /// <summary>A reservation as this book knows it: read (and, to be settled, locked) in LoadAsync, or created by it.</summary>
    private sealed record ReservationState(
        Guid Id, Guid AccountId, Guid? CommunityId, string IdempotencyKey, long Held, string Status, long? Charged, string? FinalizationId,
        DateTimeOffset CreatedAt)
    {
        public string Status { get; set; } = Status;

        public long? Charged { get; set; } = Charged;

        public string? FinalizationId { get; set; } = FinalizationId;

        public string? SettleReason { get; set; }

        public string? NftId { get; init; }

        public List<Guid> HoldLots { get; init; } = [];

        public List<long> HoldAmounts { get; init; } = [];

        public ReservationView View(bool replayed) => new(Id, AccountId, Held, Status, Charged, CreatedAt, replayed);
    }

    private sealed class LotState(
        Guid id, Guid accountId, Guid? communityId, long original, long available, long reserved, long consumed, long expired, int seq,
        DateTimeOffset? expiresAt, DateTimeOffset createdAt)
    {
        public Guid Id { get; } = id;

        public Guid AccountId { get; } = accountId;

        public Guid? CommunityId { get; } = communityId;

        public long Original { get; } = original;

        public long Available { get; set; } = available;

        public long Reserved { get; set; } = reserved;

        public long Consumed { get; set; } = consumed;

        public long Expired { get; set; } = expired;

        public int Seq { get; set; } = seq;

        public DateTimeOffset? ExpiresAt { get; } = expiresAt;

        public DateTimeOffset CreatedAt { get; } = createdAt;

        public CreditLot ToEntity(string source, string sourceRef) => new()
        {
            Id = Id, AccountId = AccountId, CommunityId = CommunityId, Source = source, SourceRef = sourceRef, Original = Original,
            Available = Available, Reserved = Reserved, Consumed = Consumed, Expired = Expired, EntrySeq = Seq, ExpiresAt = ExpiresAt,
            CreatedAt = CreatedAt,
        };
    }

    /// <summary>An entry snapshots the lot's columns after its movement (C5 chains on these).</summary>
    private sealed class PendingEntry(LotState lot, Guid? reservationId, EntryKind kind, long amount, string? reason)
    {
        public Guid AccountId { get; } = lot.AccountId;

        public Guid? CommunityId { get; } = lot.CommunityId;

        public Guid LotId { get; } = lot.Id;

        public int Seq { get; } = lot.Seq;

        public Guid? ReservationId { get; } = reservationId;

        public EntryKind Kind { get; } = kind;

        public long Amount { get; } = amount;

        public long AvailableAfter { get; } = lot.Available;

        public long ReservedAfter { get; } = lot.Reserved;

        public long ConsumedAfter { get; } = lot.Consumed;

        public long ExpiredAfter { get; } = lot.Expired;

        public string? Reason { get; } = reason;
    }
}

internal enum EntryKind
{
    Mint,
    Hold,
    Release,
    Charge,
    ExpireHold,
    Expire,
    Reverse,
}

internal static class EntryKinds
{
    public static string Name(EntryKind kind) => kind switch
    {
        EntryKind.Mint => "mint",
        EntryKind.Hold => "hold",
        EntryKind.Release => "release",
        EntryKind.Charge => "charge",
        EntryKind.ExpireHold => "expire_hold",
        EntryKind.Expire => "expire",
        EntryKind.Reverse => "reverse",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    // How each kind moves a lot's columns; the guard and the audit replay entries with these.
    public static string AvailableDelta(string e = "") =>
        $"CASE {e}kind WHEN 'mint' THEN {e}amount WHEN 'hold' THEN -{e}amount WHEN 'release' THEN {e}amount WHEN 'expire_hold' THEN {e}amount WHEN 'expire' THEN -{e}amount WHEN 'reverse' THEN {e}amount ELSE 0 END";

    public static string ReservedDelta(string e = "") =>
        $"CASE {e}kind WHEN 'hold' THEN {e}amount WHEN 'release' THEN -{e}amount WHEN 'expire_hold' THEN -{e}amount WHEN 'charge' THEN -{e}amount ELSE 0 END";

    public static string ConsumedDelta(string e = "") => $"CASE {e}kind WHEN 'charge' THEN {e}amount WHEN 'reverse' THEN -{e}amount ELSE 0 END";

    public static string ExpiredDelta(string e = "") => $"CASE {e}kind WHEN 'expire' THEN {e}amount ELSE 0 END";
}

internal sealed record ReserveRequest(Guid AccountId, Money Amount, string IdempotencyKey, string? NftId);

internal sealed record FinalizeRequest(Guid? AccountId, Guid ReservationId, Money Requested, Usage Usage, string FinalizationId);

internal sealed record ReleaseRequest(Guid? AccountId, Guid ReservationId, bool Expire, string Reason);

internal sealed record ReverseRequest(Guid CommunityId, Guid ReservationId, Money Amount, string Reason, string IdempotencyKey);

/// <summary>The lots (with how many entries each got) and reservations a command moved; the guard checks exactly these.</summary>
public sealed class LedgerTouches
{
    private readonly Dictionary<Guid, int> _lots = [];
    private readonly HashSet<Guid> _reservations = [];

    public IReadOnlyDictionary<Guid, int> Lots => _lots;

    public IReadOnlyCollection<Guid> Reservations => _reservations;

    public void AddLot(Guid lotId, int entries) => _lots[lotId] = _lots.GetValueOrDefault(lotId) + entries;

    public void AddReservation(Guid reservationId) => _reservations.Add(reservationId);

    public void Clear()
    {
        _lots.Clear();
        _reservations.Clear();
    }
}
