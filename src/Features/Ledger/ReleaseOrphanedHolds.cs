using Freeside.Features.Common.Configuration;
using System.Globalization;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Ledger;

/// <summary>
/// Returns holds that nobody finalized or released in time (a crashed caller, a lost stream) to the
/// balance, marking them 'expired' with the reason. Every replica's scheduler fires this; a
/// transaction-scoped advisory lock lets one of them sweep at a time, and the sweep is idempotent.
/// </summary>
public static partial class ReleaseOrphanedHolds
{
    private const long SweepLock = 0x4C45_4447_0001;
    private const int MaxPerSweep = 1000;

    public sealed record Command(int? OlderThanSeconds = null) : ICommand<SweepResult>, IMovesCredits;

    public sealed record SweepResult(bool Ran, int Released, IReadOnlyList<Guid> ReservationIds, double OldestPendingAgeSeconds);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.OlderThanSeconds).InclusiveBetween(0, 86_400);
    }

    internal sealed partial class Handler(
        FreesideDb db, TouchedAccounts touched, LedgerTouches touches, TimeProvider time, LedgerSettings settings, LedgerMetrics metrics,
        ILogger<Handler> logger) : IRequestHandler<Command, Result<SweepResult>>
    {
        public async Task<Result<SweepResult>> Handle(Command request, CancellationToken cancellationToken)
        {
            var book = new LedgerBook(db, touched, touches, time);
            await book.EnterAsync(cancellationToken);
            await using (var gate = book.Command("SELECT pg_try_advisory_xact_lock(@key)"))
            {
                gate.Parameters.AddWithValue("key", SweepLock);
                if (await gate.ExecuteScalarPreparedAsync(cancellationToken) is not true)
                {
                    return new SweepResult(false, 0, [], 0);
                }
            }

            var threshold = request.OlderThanSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : settings.OrphanAfter;
            var orphans = new List<(Guid Id, Guid AccountId, DateTimeOffset CreatedAt)>();
            await using (var select = book.Command("""
                SELECT id, account_id, created_at FROM credit_reservations
                WHERE status = 'pending' AND created_at <= @cutoff
                ORDER BY created_at LIMIT @limit FOR UPDATE SKIP LOCKED
                """))
            {
                select.Parameters.AddWithValue("cutoff", book.Now - threshold);
                select.Parameters.AddWithValue("limit", MaxPerSweep);
                await using var reader = await select.ExecuteReaderPreparedAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    orphans.Add((reader.GetGuid(0), reader.GetGuid(1), reader.GetFieldValue<DateTimeOffset>(2)));
                }
            }

            await book.LoadAsync([], [.. orphans.Select(o => o.Id)], cancellationToken);
            var outcomes = orphans.Select(o => book.Release(new ReleaseRequest(o.AccountId, o.Id, Expire: true,
                string.Create(CultureInfo.InvariantCulture,
                    $"orphaned: pending for {(book.Now - o.CreatedAt).TotalSeconds:0}s, longer than the {threshold.TotalSeconds:0}s limit")))).ToList();
            var released = new List<Guid>();
            for (var i = 0; i < orphans.Count; i++)
            {
                if (outcomes[i] is { IsSuccess: true, Value.Replayed: false } outcome)
                {
                    released.Add(orphans[i].Id);
                    LogReleased(logger, orphans[i].Id, orphans[i].AccountId, (book.Now - orphans[i].CreatedAt).TotalSeconds, outcome.Value.HeldMicro);
                }
            }

            await book.FlushAsync(cancellationToken);
            metrics.OrphansReleased(released.Count);

            await using var oldest = book.Command("SELECT min(created_at) FROM credit_reservations WHERE status = 'pending'");
            var oldestAge = await oldest.ExecuteScalarPreparedAsync(cancellationToken) is DateTime oldestCreated
                ? book.Now - new DateTimeOffset(DateTime.SpecifyKind(oldestCreated, DateTimeKind.Utc))
                : TimeSpan.Zero;
            metrics.OldestPendingHold(oldestAge);
            return new SweepResult(true, released.Count, released, Math.Max(0, oldestAge.TotalSeconds));
        }

        [LoggerMessage(EventId = 9101, EventName = "ledger_orphaned_hold_released", Level = LogLevel.Warning,
            Message = "Released orphaned hold {ReservationId} of account {AccountId}: pending {AgeSeconds:0}s, {HeldMicro} micro-USD returned")]
        private static partial void LogReleased(ILogger logger, Guid reservationId, Guid accountId, double ageSeconds, long heldMicro);
    }
}
