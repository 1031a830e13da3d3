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
/// Posts ledger movements inside the current command's transaction. Lots are locked (FOR UPDATE, in
/// id order) the first time a movement needs them and kept in memory until <see cref="FlushAsync"/>
/// writes each changed lot once and every entry in one statement — so a batch of movements on a hot
/// account costs a few round trips, not a few per movement. One book per handler attempt: the
/// transaction behavior may re-run the whole unit after a deadlock, and a retry must start clean.
/// </summary>
internal sealed class LedgerBook
{
    private readonly FreesideDb _db;
    private readonly TouchedAccounts _touchedAccounts;
    private readonly LedgerTouches _touches;
    private readonly DateTimeOffset _now;
    private readonly Dictionary<Guid, LotState> _lots = [];
    private readonly HashSet<Guid> _spendableLoaded = [];
    private readonly HashSet<Guid> _dirty = [];
    private readonly List<PendingEntry> _entries = [];
    private readonly List<PendingUsage> _usage = [];

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
    public Task EnterAsync(CancellationToken cancellationToken) => _db.EnterPlatformScopeAsync(cancellationToken);

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

    public async Task<Result<ReservationView>> ReserveAsync(
        Guid accountId, Money amount, string idempotencyKey, string? nftId, CancellationToken cancellationToken) =>
        (await ReserveManyAsync([new ReserveRequest(accountId, amount, idempotencyKey, nftId)], cancellationToken))[0];

    /// <summary>
    /// Plans every hold against the locked lots in memory (a later request sees what an earlier one
    /// took), inserts the planned reservations in one pipelined batch, and only then books the holds of
    /// those that were inserted; a key already taken turns into its replay (or 409) and frees its plan.
    /// </summary>
    public async Task<IReadOnlyList<Result<ReservationView>>> ReserveManyAsync(IReadOnlyList<ReserveRequest> requests, CancellationToken cancellationToken)
    {
        await LoadSpendableAsync([.. requests.Select(r => r.AccountId)], cancellationToken);
        var results = new Result<ReservationView>[requests.Count];
        var remaining = new Dictionary<Guid, long>();
        var firstByKey = new Dictionary<(Guid, string), int>();
        var duplicates = new List<(int Index, int First)>();
        var unresolved = new List<(int Index, long Available)>();
        var planned = new List<Plan>();
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i];
            if (firstByKey.TryGetValue((request.AccountId, request.IdempotencyKey), out var first))
            {
                duplicates.Add((i, first));
                continue;
            }

            firstByKey[(request.AccountId, request.IdempotencyKey)] = i;
            var candidates = _lots.Values
                .Where(l => l.AccountId == request.AccountId && (l.ExpiresAt is null || l.ExpiresAt > _now))
                .Select(l => (Lot: l, Left: remaining.TryGetValue(l.Id, out var left) ? left : l.Available))
                .Where(c => c.Left > 0)
                .OrderBy(c => c.Lot.ExpiresAt ?? DateTimeOffset.MaxValue).ThenBy(c => c.Lot.CreatedAt).ThenBy(c => c.Lot.Id)
                .ToList();
            var available = candidates.Aggregate(Money.Zero, (sum, c) => sum + Money.FromMicro(c.Left));
            if (request.Amount > available || (candidates.Count == 0 && !await AccountExistsAsync(request.AccountId, cancellationToken)))
            {
                unresolved.Add((i, available.Micro));
                continue;
            }

            var communityId = candidates.Count > 0 ? candidates[0].Lot.CommunityId : await AccountCommunityAsync(request.AccountId, cancellationToken);
            var takes = new List<(LotState Lot, long Amount)>();
            var left = request.Amount;
            foreach (var (lot, lotLeft) in candidates)
            {
                if (left.IsZero)
                {
                    break;
                }

                var take = Money.Min(left, Money.FromMicro(lotLeft));
                takes.Add((lot, take.Micro));
                remaining[lot.Id] = lotLeft - take.Micro;
                left -= take;
            }

            planned.Add(new Plan(i, Guid.CreateVersion7(), communityId, takes));
        }

        if (planned.Count > 0)
        {
            await using var batch = Batch();
            foreach (var plan in planned)
            {
                var request = requests[plan.Index];
                var insert = new NpgsqlBatchCommand("""
                    INSERT INTO credit_reservations (id, account_id, community_id, idempotency_key, held, hold_lots, hold_amounts, status, nft_id, created_at)
                    VALUES (@id, @account, @community, @key, @held, @lots, @amounts, 'pending', @nft, @now)
                    ON CONFLICT (account_id, idempotency_key) DO NOTHING
                    """);
                insert.Parameters.AddWithValue("id", plan.Id);
                insert.Parameters.AddWithValue("account", request.AccountId);
                insert.Parameters.Add(new NpgsqlParameter("community", NpgsqlDbType.Uuid) { Value = (object?)plan.CommunityId ?? DBNull.Value });
                insert.Parameters.AddWithValue("key", request.IdempotencyKey);
                insert.Parameters.AddWithValue("held", request.Amount.Micro);
                insert.Parameters.AddWithValue("lots", plan.Takes.Select(t => t.Lot.Id).ToArray());
                insert.Parameters.AddWithValue("amounts", plan.Takes.Select(t => t.Amount).ToArray());
                insert.Parameters.Add(new NpgsqlParameter("nft", NpgsqlDbType.Text) { Value = (object?)request.NftId ?? DBNull.Value });
                insert.Parameters.AddWithValue("now", _now);
                batch.BatchCommands.Add(insert);
            }

            await batch.PrepareAsync(cancellationToken);
            await batch.ExecuteNonQueryAsync(cancellationToken);
            for (var p = 0; p < planned.Count; p++)
            {
                var plan = planned[p];
                var request = requests[plan.Index];
                if (batch.BatchCommands[p].RecordsAffected == 0)
                {
                    // The key is taken (by a committed request, or one that committed while we waited on it).
                    results[plan.Index] = (await ExistingReservationAsync(request.AccountId, request.IdempotencyKey, request.Amount, cancellationToken))!.Value;
                    continue;
                }

                foreach (var (lot, take) in plan.Takes)
                {
                    lot.Available = checked(lot.Available - take);
                    lot.Reserved = checked(lot.Reserved + take);
                    Record(lot, plan.Id, EntryKind.Hold, take, null);
                }

                _touches.AddReservation(plan.Id);
                _touchedAccounts.Add(request.AccountId);
                results[plan.Index] = new ReservationView(plan.Id, request.AccountId, request.Amount.Micro, ReservationStatus.Pending, null, _now, Replayed: false);
            }
        }

        foreach (var (index, available) in unresolved)
        {
            var request = requests[index];
            results[index] = await ExistingReservationAsync(request.AccountId, request.IdempotencyKey, request.Amount, cancellationToken)
                ?? (await AccountExistsAsync(request.AccountId, cancellationToken)
                    ? new InsufficientCredits(request.Amount.Micro, available)
                    : new NotFound("credit account", request.AccountId.ToString()));
        }

        foreach (var (index, first) in duplicates)
        {
            var original = results[first];
            results[index] = !original.IsSuccess ? original
                : original.Value.HeldMicro == requests[index].Amount.Micro ? original.Value with { Replayed = true }
                : new IdempotencyKeyReused(requests[index].IdempotencyKey);
        }

        return results;
    }

    public async Task<Result<FinalizationView>> FinalizeAsync(
        Guid? accountId, Guid reservationId, Money requested, Usage usage, string finalizationId, LedgerMetrics metrics, CancellationToken cancellationToken) =>
        (await FinalizeManyAsync([new FinalizeRequest(accountId, reservationId, requested, usage, finalizationId)], metrics, cancellationToken))[0];

    /// <summary>
    /// One conditional UPDATE per reservation (pipelined in one round trip) decides each winner; then
    /// the charges and releases are booked on the locked lots and the usage events queued for the flush.
    /// </summary>
    public async Task<IReadOnlyList<Result<FinalizationView>>> FinalizeManyAsync(
        IReadOnlyList<FinalizeRequest> requests, LedgerMetrics metrics, CancellationToken cancellationToken)
    {
        var settled = await SettleAsync(requests.Select(r => (r.AccountId, r.ReservationId, (Func<NpgsqlBatchCommand>)(() =>
        {
            var update = new NpgsqlBatchCommand("""
                UPDATE credit_reservations SET status = 'finalized', charged = LEAST(@charged, held), finalization_id = @finalization, settled_at = @now
                WHERE id = @id AND status = 'pending' AND (@account::uuid IS NULL OR account_id = @account)
                RETURNING account_id, community_id, held, charged, hold_lots, hold_amounts, created_at
                """);
            update.Parameters.AddWithValue("charged", r.Requested.Micro);
            update.Parameters.AddWithValue("finalization", r.FinalizationId);
            return update;
        }))).ToList(), cancellationToken);

        var results = new Result<FinalizationView>[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i];
            if (settled[i] is not { } done)
            {
                var existing = await FindReservationAsync(request.ReservationId, request.AccountId, cancellationToken);
                results[i] = existing switch
                {
                    null => new NotFound("reservation", request.ReservationId.ToString()),
                    { Status: ReservationStatus.Finalized } => new FinalizationView(existing.Id, existing.AccountId, existing.Held, existing.Charged!.Value,
                        existing.Held - existing.Charged.Value, false, existing.FinalizationId!, Replayed: true),
                    _ => new ReservationSettled(existing.Id, existing.Status),
                };
                continue;
            }

            var clamped = request.Requested.Micro > done.Held;
            if (clamped)
            {
                metrics.ChargeClamped();
            }

            var toCharge = done.Charged;
            for (var h = 0; h < done.HoldLots.Length; h++)
            {
                var lot = _lots[done.HoldLots[h]];
                var held = done.HoldAmounts[h];
                var charge = Math.Min(held, toCharge);
                toCharge -= charge;
                if (charge > 0)
                {
                    lot.Reserved = checked(lot.Reserved - charge);
                    lot.Consumed = checked(lot.Consumed + charge);
                    Record(lot, request.ReservationId, EntryKind.Charge, charge, null);
                }

                if (held - charge > 0)
                {
                    lot.Reserved = checked(lot.Reserved - (held - charge));
                    lot.Available = checked(lot.Available + (held - charge));
                    Record(lot, request.ReservationId, EntryKind.Release, held - charge, "unused part of the hold");
                }
            }

            _usage.Add(new PendingUsage(done.AccountId, done.CommunityId, request.ReservationId, done.Charged, request.Requested.Micro, request.FinalizationId, request.Usage));
            _touches.AddReservation(request.ReservationId);
            _touchedAccounts.Add(done.AccountId);
            results[i] = new FinalizationView(request.ReservationId, done.AccountId, done.Held, done.Charged, done.Held - done.Charged,
                clamped, request.FinalizationId, Replayed: false);
        }

        return results;
    }

    /// <summary>Returns the whole hold: 'released' by a caller, or 'expired' by the orphan sweep (entry kind expire_hold).</summary>
    public async Task<Result<ReservationView>> ReleaseAsync(Guid? accountId, Guid reservationId, bool expire, string reason, CancellationToken cancellationToken) =>
        (await ReleaseManyAsync([new ReleaseRequest(accountId, reservationId, expire, reason)], cancellationToken))[0];

    public async Task<IReadOnlyList<Result<ReservationView>>> ReleaseManyAsync(IReadOnlyList<ReleaseRequest> requests, CancellationToken cancellationToken)
    {
        var settled = await SettleAsync(requests.Select(r => (r.AccountId, r.ReservationId, (Func<NpgsqlBatchCommand>)(() =>
        {
            var update = new NpgsqlBatchCommand("""
                UPDATE credit_reservations SET status = @status, settle_reason = @reason, settled_at = @now
                WHERE id = @id AND status = 'pending' AND (@account::uuid IS NULL OR account_id = @account)
                RETURNING account_id, community_id, held, charged, hold_lots, hold_amounts, created_at
                """);
            update.Parameters.AddWithValue("status", r.Expire ? ReservationStatus.Expired : ReservationStatus.Released);
            update.Parameters.AddWithValue("reason", r.Reason);
            return update;
        }))).ToList(), cancellationToken);

        var results = new Result<ReservationView>[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i];
            if (settled[i] is not { } done)
            {
                var existing = await FindReservationAsync(request.ReservationId, request.AccountId, cancellationToken);
                results[i] = existing switch
                {
                    null => new NotFound("reservation", request.ReservationId.ToString()),
                    { Status: ReservationStatus.Released or ReservationStatus.Expired } => View(existing, replayed: true),
                    _ => new ReservationSettled(existing.Id, existing.Status),
                };
                continue;
            }

            for (var h = 0; h < done.HoldLots.Length; h++)
            {
                var lot = _lots[done.HoldLots[h]];
                lot.Reserved = checked(lot.Reserved - done.HoldAmounts[h]);
                lot.Available = checked(lot.Available + done.HoldAmounts[h]);
                Record(lot, request.ReservationId, request.Expire ? EntryKind.ExpireHold : EntryKind.Release, done.HoldAmounts[h], request.Reason);
            }

            _touches.AddReservation(request.ReservationId);
            _touchedAccounts.Add(done.AccountId);
            results[i] = new ReservationView(request.ReservationId, done.AccountId, done.Held,
                request.Expire ? ReservationStatus.Expired : ReservationStatus.Released, null, done.CreatedAt, Replayed: false);
        }

        return results;
    }

    /// <summary>Runs the settling UPDATEs pipelined, then locks every lot the settled reservations hold.</summary>
    private async Task<Settled?[]> SettleAsync(List<(Guid? AccountId, Guid ReservationId, Func<NpgsqlBatchCommand> Build)> updates, CancellationToken cancellationToken)
    {
        var settled = new Settled?[updates.Count];
        if (updates.Count == 0)
        {
            return settled;
        }

        await using (var batch = Batch())
        {
            foreach (var (accountId, reservationId, build) in updates)
            {
                var update = build();
                update.Parameters.AddWithValue("id", reservationId);
                update.Parameters.Add(new NpgsqlParameter("account", NpgsqlDbType.Uuid) { Value = (object?)accountId ?? DBNull.Value });
                update.Parameters.AddWithValue("now", _now);
                batch.BatchCommands.Add(update);
            }

            await batch.PrepareAsync(cancellationToken);
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            for (var i = 0; i < updates.Count; i++)
            {
                if (await reader.ReadAsync(cancellationToken))
                {
                    settled[i] = new Settled(reader.GetGuid(0), reader.IsDBNull(1) ? null : reader.GetGuid(1), reader.GetInt64(2),
                        reader.IsDBNull(3) ? 0 : reader.GetInt64(3), reader.GetFieldValue<Guid[]>(4), reader.GetFieldValue<long[]>(5),
                        reader.GetFieldValue<DateTimeOffset>(6));
                }

                await reader.NextResultAsync(cancellationToken);
            }
        }

        await LockLotsAsync([.. settled.Where(s => s is not null).SelectMany(s => s!.HoldLots)], cancellationToken);
        return settled;
    }

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

    /// <summary>Writes every changed lot once and every new entry in one statement; call before the handler returns.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_dirty.Count > 0)
        {
            var lots = _dirty.Select(id => _lots[id]).OrderBy(l => l.Id).ToList();
            await using var update = Command("""
                UPDATE credit_lots l
                SET available = v.available, reserved = v.reserved, consumed = v.consumed, expired = v.expired, entry_seq = v.seq
                FROM unnest(@ids, @available, @reserved, @consumed, @expired, @seq) AS v(id, available, reserved, consumed, expired, seq)
                WHERE l.id = v.id
                """);
            update.Parameters.AddWithValue("ids", lots.Select(l => l.Id).ToArray());
            update.Parameters.AddWithValue("available", lots.Select(l => l.Available).ToArray());
            update.Parameters.AddWithValue("reserved", lots.Select(l => l.Reserved).ToArray());
            update.Parameters.AddWithValue("consumed", lots.Select(l => l.Consumed).ToArray());
            update.Parameters.AddWithValue("expired", lots.Select(l => l.Expired).ToArray());
            update.Parameters.AddWithValue("seq", lots.Select(l => l.Seq).ToArray());
            var updated = await update.ExecutePreparedAsync(cancellationToken);
            if (updated != lots.Count)
            {
                throw new InvalidOperationException($"Expected to update {lots.Count} locked lots, updated {updated}.");
            }

            _dirty.Clear();
        }

        if (_entries.Count > 0)
        {
            await using var insert = Command("""
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
            await insert.ExecutePreparedAsync(cancellationToken);
            _entries.Clear();
        }

        if (_usage.Count > 0)
        {
            await using var insert = Command("""
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
            await insert.ExecutePreparedAsync(cancellationToken);
            _usage.Clear();
        }
    }

    /// <summary>Locks the reservations first (id order), so a batch never takes a lot before a reservation another finalizer holds.</summary>
    public async Task LockReservationsAsync(Guid[] ids, CancellationToken cancellationToken)
    {
        if (ids.Length == 0)
        {
            return;
        }

        await using var select = Command("SELECT id FROM credit_reservations WHERE id = ANY(@ids) ORDER BY id FOR UPDATE");
        select.Parameters.AddWithValue("ids", ids);
        await using var reader = await select.ExecuteReaderPreparedAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
        }
    }

    /// <summary>
    /// Locks, in one statement and in id order, every lot a batch may move: the spendable lots of the
    /// accounts it reserves on and the lots held by the reservations it settles (locked just before).
    /// </summary>
    public async Task PrefetchLotsAsync(Guid[] reserveAccounts, Guid[] settlingReservations, CancellationToken cancellationToken)
    {
        var accounts = reserveAccounts.Where(a => !_spendableLoaded.Contains(a)).Distinct().ToArray();
        if (accounts.Length == 0 && settlingReservations.Length == 0)
        {
            return;
        }

        await using var select = Command($"""
            SELECT {LotColumns} FROM credit_lots
            WHERE id IN (
                SELECT id FROM credit_lots WHERE account_id = ANY(@accounts) AND available > 0 AND (expires_at IS NULL OR expires_at > @now)
                UNION
                SELECT unnest(hold_lots) FROM credit_reservations WHERE id = ANY(@reservations))
            ORDER BY id FOR UPDATE
            """);
        select.Parameters.AddWithValue("accounts", accounts);
        select.Parameters.AddWithValue("reservations", settlingReservations);
        select.Parameters.AddWithValue("now", _now);
        await ReadLotsAsync(select, cancellationToken);
        _spendableLoaded.UnionWith(accounts);
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

    private const string LotColumns = "id, account_id, community_id, original, available, reserved, consumed, expired, entry_seq, expires_at, created_at";

    private async Task LoadSpendableAsync(Guid[] accountIds, CancellationToken cancellationToken)
    {
        var accounts = accountIds.Where(a => !_spendableLoaded.Contains(a)).Distinct().ToArray();
        if (accounts.Length == 0)
        {
            return;
        }

        await using var select = Command($"""
            SELECT {LotColumns} FROM credit_lots
            WHERE account_id = ANY(@accounts) AND available > 0 AND (expires_at IS NULL OR expires_at > @now)
            ORDER BY id FOR UPDATE
            """);
        select.Parameters.AddWithValue("accounts", accounts);
        select.Parameters.AddWithValue("now", _now);
        await ReadLotsAsync(select, cancellationToken);
        _spendableLoaded.UnionWith(accounts);
    }

    private async Task LockLotsAsync(Guid[] ids, CancellationToken cancellationToken)
    {
        var missing = ids.Where(id => !_lots.ContainsKey(id)).Distinct().ToArray();
        if (missing.Length == 0)
        {
            return;
        }

        await using var select = Command($"SELECT {LotColumns} FROM credit_lots WHERE id = ANY(@ids) ORDER BY id FOR UPDATE");
        select.Parameters.AddWithValue("ids", missing);
        await ReadLotsAsync(select, cancellationToken);
        if (missing.Any(id => !_lots.ContainsKey(id)))
        {
            throw new InvalidOperationException("A reservation holds a lot that does not exist.");
        }
    }

    /// <summary>Adds locked lots to the cache; a lot already cached keeps its in-memory state, which is newer than the row.</summary>
    private async Task<List<LotState>> ReadLotsAsync(NpgsqlCommand select, CancellationToken cancellationToken)
    {
        var read = new List<LotState>();
        await using var reader = await select.ExecuteReaderPreparedAsync(cancellationToken);
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

    private async Task<Result<ReservationView>?> ExistingReservationAsync(Guid accountId, string key, Money amount, CancellationToken cancellationToken)
    {
        var existing = await _db.Set<CreditReservation>().AsNoTracking()
            .SingleOrDefaultAsync(r => r.AccountId == accountId && r.IdempotencyKey == key, cancellationToken);
        if (existing is null)
        {
            return null;
        }

        return existing.Held == amount.Micro ? View(existing, replayed: true) : new IdempotencyKeyReused(key);
    }

    /// <summary>A reservation that did not settle now: already settled, someone else's, or unknown.</summary>
    private Task<CreditReservation?> FindReservationAsync(Guid reservationId, Guid? accountId, CancellationToken cancellationToken) =>
        _db.Set<CreditReservation>().AsNoTracking()
            .SingleOrDefaultAsync(r => r.Id == reservationId && (accountId == null || r.AccountId == accountId), cancellationToken);

    private Task<bool> AccountExistsAsync(Guid accountId, CancellationToken cancellationToken) =>
        _db.Set<CreditAccount>().AsNoTracking().AnyAsync(a => a.Id == accountId, cancellationToken);

    private Task<Guid?> AccountCommunityAsync(Guid accountId, CancellationToken cancellationToken) =>
        _db.Set<CreditAccount>().AsNoTracking().Where(a => a.Id == accountId).Select(a => a.CommunityId).SingleAsync(cancellationToken);

    private NpgsqlBatch Batch()
    {
        var connection = (NpgsqlConnection)_db.Database.GetDbConnection();
        var transaction = _db.Database.CurrentTransaction?.GetDbTransaction() as NpgsqlTransaction
            ?? throw new InvalidOperationException("The ledger posts only inside the command's transaction.");
        return new NpgsqlBatch(connection, transaction);
    }

    private static ReservationView View(CreditReservation r, bool replayed) =>
        new(r.Id, r.AccountId, r.Held, r.Status, r.Charged, r.CreatedAt, replayed);

    private sealed record PendingUsage(Guid AccountId, Guid? CommunityId, Guid ReservationId, long Charged, long Requested, string FinalizationId, Usage Usage);

    private sealed record Plan(int Index, Guid Id, Guid? CommunityId, List<(LotState Lot, long Amount)> Takes);

    private sealed record Settled(Guid AccountId, Guid? CommunityId, long Held, long Charged, Guid[] HoldLots, long[] HoldAmounts, DateTimeOffset CreatedAt);

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
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    // How each kind moves a lot's columns; the guard and the audit replay entries with these.
    public static string AvailableDelta(string e = "") =>
        $"CASE {e}kind WHEN 'mint' THEN {e}amount WHEN 'hold' THEN -{e}amount WHEN 'release' THEN {e}amount WHEN 'expire_hold' THEN {e}amount WHEN 'expire' THEN -{e}amount ELSE 0 END";

    public static string ReservedDelta(string e = "") =>
        $"CASE {e}kind WHEN 'hold' THEN {e}amount WHEN 'release' THEN -{e}amount WHEN 'expire_hold' THEN -{e}amount WHEN 'charge' THEN -{e}amount ELSE 0 END";

    public static string ConsumedDelta(string e = "") => $"CASE {e}kind WHEN 'charge' THEN {e}amount ELSE 0 END";

    public static string ExpiredDelta(string e = "") => $"CASE {e}kind WHEN 'expire' THEN {e}amount ELSE 0 END";
}

internal sealed record ReserveRequest(Guid AccountId, Money Amount, string IdempotencyKey, string? NftId);

internal sealed record FinalizeRequest(Guid? AccountId, Guid ReservationId, Money Requested, Usage Usage, string FinalizationId);

internal sealed record ReleaseRequest(Guid? AccountId, Guid ReservationId, bool Expire, string Reason);

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
