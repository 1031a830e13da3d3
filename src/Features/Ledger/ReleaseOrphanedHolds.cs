using Freeside.Features.Common.Configuration;
using System.Globalization;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
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

    internal sealed partial class Handler(LedgerStore store, LedgerSettings settings, LedgerMetrics metrics, ILogger<Handler> logger)
        : IRequestHandler<Command, Result<SweepResult>>
    {
        public async Task<Result<SweepResult>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (!await store.TryStartSweepAsync(SweepLock, cancellationToken))
            {
                return new SweepResult(false, 0, [], 0);
            }

            var threshold = request.OlderThanSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : settings.OrphanAfter;
            var now = store.Now;
            var released = new List<Guid>();
            foreach (var orphan in await store.LoadOrphansAsync(now - threshold, MaxPerSweep, cancellationToken))
            {
                var age = now - orphan.CreatedAt;
                var reason = string.Create(CultureInfo.InvariantCulture, $"orphaned: pending for {age.TotalSeconds:0}s, longer than the {threshold.TotalSeconds:0}s limit");
                if (orphan.Expire(reason, store.Lots) is { IsSuccess: true, Value.Replayed: false })
                {
                    released.Add(orphan.Id);
                    LogReleased(logger, orphan.Id, orphan.AccountId, age.TotalSeconds, orphan.Held.Micro);
                }
            }

            await store.SaveAsync(cancellationToken);
            metrics.OrphansReleased(released.Count);
            var oldestAge = await store.OldestPendingAsync(cancellationToken) is { } oldest ? now - oldest : TimeSpan.Zero;
            metrics.OldestPendingHold(oldestAge);
            return new SweepResult(true, released.Count, released, Math.Max(0, oldestAge.TotalSeconds));
        }

        [LoggerMessage(EventId = 9101, EventName = "ledger_orphaned_hold_released", Level = LogLevel.Warning,
            Message = "Released orphaned hold {ReservationId} of account {AccountId}: pending {AgeSeconds:0}s, {HeldMicro} micro-USD returned")]
        private static partial void LogReleased(ILogger logger, Guid reservationId, Guid accountId, double ageSeconds, long heldMicro);
    }
}
