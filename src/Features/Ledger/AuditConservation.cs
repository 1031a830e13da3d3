using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Observability;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Ledger;

/// <summary>
/// The full audit: replays every entry and re-derives C1–C6 from scratch, for one community or for
/// every account (the hourly job). Unlike the per-command guard it reads whole history, so it runs
/// off the hot path; what it finds is counted, logged and recorded like a guard violation.
/// </summary>
public static partial class AuditConservation
{
    private const int MaxViolations = 1000;

    public sealed record Command(string? Slug) : ICommand<AuditReport>;

    public sealed record AuditReport(
        string Status, DateTimeOffset CheckedAt, IReadOnlyList<InvariantStatus> Invariants, IReadOnlyList<ViolationView> RecentViolations);

    public sealed record InvariantStatus(string Id, string Description, bool Ok, string? Detail);

    public sealed record ViolationView(string Invariant, string Source, string Detail, DateTimeOffset DetectedAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Slug).MaximumLength(63);
    }

    internal sealed partial class Handler(FreesideDb db, ViolationLog log, FreesideMetrics metrics, TimeProvider time, ILogger<Handler> logger)
        : IRequestHandler<Command, Result<AuditReport>>
    {
        public async Task<Result<AuditReport>> Handle(Command request, CancellationToken cancellationToken)
        {
            Guid[] accounts = [];
            if (request.Slug is not null)
            {
                var found = await db.CommunityBySlugAsync(request.Slug, cancellationToken);
                if (found.Error is { } notFound)
                {
                    return notFound;
                }

                var community = found.Value;

                await db.EnterCommunityAsync(community.Id, cancellationToken);
                accounts = await db.Set<CreditAccount>().AsNoTracking().Where(a => a.CommunityId == community.Id).Select(a => a.Id).ToArrayAsync(cancellationToken);
            }
            else
            {
                await db.EnterPlatformScopeAsync(cancellationToken);
            }

            var checkedAt = time.GetUtcNow();
            await using var command = LedgerInvariants.Command(db, LedgerInvariants.Full + $"\nLIMIT {MaxViolations}");
            command.Parameters.AddWithValue("all", request.Slug is null);
            command.Parameters.AddWithValue("accounts", accounts);
            var violations = await LedgerInvariants.ReadAsync(command, cancellationToken);

            metrics.ConservationCheck(passed: violations.Count == 0);
            foreach (var violation in violations)
            {
                metrics.ConservationFailure(violation.Invariant);
                LogViolation(logger, violation.Invariant, violation.AccountId, violation.Detail);
            }

            if (violations.Count > 0)
            {
                await log.RecordAsync(violations, "audit", CancellationToken.None);
            }

            var recent = await db.Set<ConservationViolationRecord>().AsNoTracking()
                .Where(v => request.Slug == null || accounts.Contains(v.AccountId))
                .OrderByDescending(v => v.DetectedAt).ThenByDescending(v => v.Id).Take(20)
                .Select(v => new ViolationView(v.Invariant, v.Source, v.Detail, v.DetectedAt))
                .ToListAsync(cancellationToken);
            var invariants = LedgerInvariants.All.Select(i =>
            {
                var found = violations.Where(v => v.Invariant == i.Id).ToList();
                return new InvariantStatus(i.Id, i.Description, found.Count == 0,
                    found.Count == 0 ? null : $"{found.Count} violation(s); first: {found[0].Detail}");
            }).ToList();
            return new AuditReport(violations.Count == 0 ? "ok" : "violated", checkedAt, invariants, recent);
        }

        [LoggerMessage(EventId = 9002, EventName = "conservation_guard_violation", Level = LogLevel.Critical,
            Message = "conservation_guard_violation invariant={Invariant} account={AccountId} source=audit detail={Detail}")]
        private static partial void LogViolation(ILogger logger, string invariant, Guid accountId, string detail);
    }
}
