using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Inference;
using Freeside.Features.Ledger;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freeside.Features.Admin;

/// <summary>
/// Makes a chat reservation within the community's budgets and records which wallet it was for.
/// Spend is what the community's chat reservations hold (pending) or charged (finalized) since the
/// start of the UTC month (monthly cap) or UTC day (per-wallet cap). Admission is serialized per
/// community on the budget row's lock, held until the reservation has committed, so concurrent
/// reservations cannot pass a cap together: each one sees the holds of those admitted before it.
/// A community without a budget takes no lock and holds no connection while the ledger reserves: one
/// round trip finds no budget, another records the wallet after the hold is made. A budget set while such
/// a chat is being admitted applies from the next chat on.
/// <para>
/// The admission transaction holds a pooled connection while the reservation itself is made on
/// another (the ledger's batcher), so at most half the pool's connections are admitted at once; the
/// rest wait here, in memory. Without that bound, as many chats as the pool has connections each held
/// one, the batcher waited for a free one, and everything stalled until the pool's timeout.
/// </para>
/// </summary>
public sealed class BudgetGuard(IServiceScopeFactory scopes, NpgsqlDataSource database, TimeProvider time) : IChatReservationGate
{
    private SemaphoreSlim? _admissions;

    public Task<Result<ReservationView>> ReserveAsync(Guid communityId, string wallet, long amountMicro,
        Func<Task<Result<ReservationView>>> reserve, CancellationToken cancellationToken) =>
        ReserveAsync(communityId, wallet, amountMicro, reserve, h => h.ReservationId, cancellationToken);

    internal sealed record Caps(long? Monthly, long? DailyPerWallet, DateTimeOffset UpdatedAt);

    /// <param name="wallet">The wallet the reservation is for, lower-case hex (as agent_messages stores it).</param>
    /// <param name="reserve">Makes the reservation; it is idempotent on its key, so running it again after a retried transaction replays it.</param>
    public async Task<Result<T>> ReserveAsync<T>(Guid communityId, string wallet, long amountMicro,
        Func<Task<Result<T>>> reserve, Func<T, Guid> reservationOf, CancellationToken cancellationToken)
    {
        if (!await HasBudgetAsync(communityId, cancellationToken))
        {
            var made = await reserve();
            if (made.IsSuccess)
            {
                await RecordWalletAsync(communityId, wallet, reservationOf(made.Value), cancellationToken);
            }

            return made;
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<FreesideDb>();
        var admissions = Admissions(db);
        await admissions.WaitAsync(cancellationToken);
        try
        {
            return await AdmitAsync(db, communityId, wallet, amountMicro, reserve, reservationOf, cancellationToken);
        }
        finally
        {
            admissions.Release();
        }
    }

    private async Task<bool> HasBudgetAsync(Guid communityId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var batch = ScopedBatch.Create(connection, communityId);
        var query = new NpgsqlBatchCommand("SELECT EXISTS (SELECT 1 FROM community_budgets WHERE community_id = @c)");
        query.Parameters.AddWithValue("c", communityId);
        batch.BatchCommands.Add(query);
        await using var reader = await ScopedBatch.ReadAsync(batch, cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return reader.GetBoolean(0);
    }

    private async Task RecordWalletAsync(Guid communityId, string wallet, Guid reservationId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var batch = ScopedBatch.Create(connection, communityId);
        batch.BatchCommands.Add(RecordWallet(communityId, wallet, reservationId, time.GetUtcNow()));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    private const string InsertWallet = """
        INSERT INTO reservation_wallets (reservation_id, community_id, wallet, created_at) VALUES (@r, @c, @w, @now)
        ON CONFLICT (reservation_id) DO NOTHING
        """;

    private static NpgsqlBatchCommand RecordWallet(Guid communityId, string wallet, Guid reservationId, DateTimeOffset now)
    {
        var record = new NpgsqlBatchCommand(InsertWallet);
        record.Parameters.AddWithValue("r", reservationId);
        record.Parameters.AddWithValue("c", communityId);
        record.Parameters.AddWithValue("w", wallet);
        record.Parameters.AddWithValue("now", now);
        return record;
    }

    /// <summary>Half the pool (Maximum Pool Size, Npgsql's default 100), at least one.</summary>
    internal static int AdmissionLimit(string? connectionString) =>
        Math.Max(1, new NpgsqlConnectionStringBuilder(connectionString).MaxPoolSize / 2);

    private SemaphoreSlim Admissions(FreesideDb db)
    {
        if (Volatile.Read(ref _admissions) is { } made)
        {
            return made;
        }

        var limit = AdmissionLimit(db.Database.GetConnectionString());
        return Interlocked.CompareExchange(ref _admissions, new SemaphoreSlim(limit, limit), null) ?? _admissions!;
    }

    private async Task<Result<T>> AdmitAsync<T>(FreesideDb db, Guid communityId, string wallet, long amountMicro,
        Func<Task<Result<T>>> reserve, Func<T, Guid> reservationOf, CancellationToken cancellationToken)
    {
        return await db.Database.CreateExecutionStrategy().ExecuteAsync(async ct =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, ct);
            await db.EnterCommunityAsync(communityId, ct);
            var now = time.GetUtcNow();
            if (await CapsAsync(db, communityId, forUpdate: true, ct) is { } caps)
            {
                if (caps.Monthly is { } monthly)
                {
                    var spent = await SpentAsync(db, communityId, null, MonthStart(now), ct);
                    if (spent + amountMicro > monthly)
                    {
                        return Result<T>.Failure(new BudgetExceeded("monthly", monthly, spent, amountMicro));
                    }
                }

                if (caps.DailyPerWallet is { } daily)
                {
                    var spent = await SpentAsync(db, communityId, wallet, DayStart(now), ct);
                    if (spent + amountMicro > daily)
                    {
                        return Result<T>.Failure(new BudgetExceeded("daily per wallet", daily, spent, amountMicro));
                    }
                }
            }

            var made = await reserve();
            if (!made.IsSuccess)
            {
                return made;
            }

            await using var record = AdminAccess.Command(db, InsertWallet, communityId);
            record.Parameters.AddWithValue("r", reservationOf(made.Value));
            record.Parameters.AddWithValue("w", wallet);
            record.Parameters.AddWithValue("now", now);
            await record.ExecuteNonQueryAsync(ct);
            await transaction.CommitAsync(ct);
            return made;
        }, cancellationToken);
    }

    public static DateTimeOffset MonthStart(DateTimeOffset now) => new(now.UtcDateTime.Year, now.UtcDateTime.Month, 1, 0, 0, 0, TimeSpan.Zero);

    public static DateTimeOffset DayStart(DateTimeOffset now) => new(now.UtcDateTime.Date, TimeSpan.Zero);

    internal static async Task<Caps?> CapsAsync(FreesideDb db, Guid communityId, bool forUpdate, CancellationToken cancellationToken)
    {
        var rows = await AdminAccess.ListAsync(db, communityId,
            "SELECT monthly_cap_micro, daily_cap_per_wallet_micro, updated_at FROM community_budgets WHERE community_id = @c" + (forUpdate ? " FOR UPDATE" : ""),
            r => new Caps(r.IsDBNull(0) ? null : r.GetInt64(0), r.IsDBNull(1) ? null : r.GetInt64(1), r.GetFieldValue<DateTimeOffset>(2)),
            cancellationToken);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>Held (pending) plus charged (finalized) by the community's chat reservations made since <paramref name="from"/>, optionally of one wallet.</summary>
    internal static async Task<long> SpentAsync(FreesideDb db, Guid communityId, string? wallet, DateTimeOffset from, CancellationToken cancellationToken)
    {
        var rows = await AdminAccess.ListAsync(db, communityId, """
            SELECT coalesce(sum(CASE r.status WHEN 'pending' THEN r.held WHEN 'finalized' THEN r.charged ELSE 0 END), 0)::bigint
            FROM reservation_wallets w JOIN credit_reservations r ON r.id = w.reservation_id
            WHERE w.community_id = @c AND w.created_at >= @from AND (@w::text IS NULL OR w.wallet = @w::text)
            """, r => r.GetInt64(0), cancellationToken, ("from", from), ("w", (object?)wallet ?? DBNull.Value));
        return rows[0];
    }
}
