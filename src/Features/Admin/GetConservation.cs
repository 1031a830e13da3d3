using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Ledger;
using MediatR;

namespace Freeside.Features.Admin;

/// <summary>
/// The community's conservation status for its admins: the full audit (C1–C6) run now, and every
/// violation the guard or an audit ever recorded for it (newest 200, with the total).
/// </summary>
public static class GetConservation
{
    public sealed record Query(string Slug, EthereumAddress? Viewer) : IQuery<ConservationView>;

    public sealed record ConservationView(AuditConservation.AuditReport Current, long ViolationsTotal, IReadOnlyList<ViolationView> History);

    public sealed record ViolationView(long Id, string Invariant, string Source, string? RequestType, string Detail, DateTimeOffset DetectedAt);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
    }

    internal sealed class Handler(FreesideDb db, IMediator mediator) : IRequestHandler<Query, Result<ConservationView>>
    {
        public async Task<Result<ConservationView>> Handle(Query request, CancellationToken cancellationToken)
        {
            var access = await AdminAccess.ResolveAsync(db, request.Slug, request.Viewer, cancellationToken);
            if (access.Error is { } denied)
            {
                return denied;
            }

            var audit = await mediator.Send(new AuditConservation.Command(access.Value.Slug), cancellationToken);
            if (audit.Error is { } failed)
            {
                return failed;
            }

            var community = access.Value.Id;
            return await db.ReadInCommunityAsync(community, async ct =>
            {
                var total = (await AdminAccess.ListAsync(db, community, "SELECT count(*) FROM conservation_violations WHERE community_id = @c",
                    r => r.GetInt64(0), ct))[0];
                var history = await AdminAccess.ListAsync(db, community, """
                    SELECT id, invariant, source, request_type, detail, detected_at FROM conservation_violations
                    WHERE community_id = @c ORDER BY detected_at DESC, id DESC LIMIT 200
                    """, r => new ViolationView(r.GetInt64(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetString(4),
                        r.GetFieldValue<DateTimeOffset>(5)), ct);
                return new ConservationView(audit.Value, total, history);
            }, cancellationToken);
        }
    }
}
