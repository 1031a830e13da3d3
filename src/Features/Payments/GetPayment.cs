using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Identity.Roles;
using Freeside.Features.Payments.Domain;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Payments;

/// <summary>A payment's status and the seed's user-facing message: for the payer, the community's admins and the platform admin.</summary>
public static class GetPayment
{
    /// <param name="Viewer">The signed-in wallet asking; null for the platform admin.</param>
    public sealed record Query(Guid PaymentId, EthereumAddress? Viewer) : IQuery<CreatePayment.PaymentView>;

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.PaymentId).NotEmpty();
    }

    internal sealed class Handler(FreesideDb db) : IRequestHandler<Query, Result<CreatePayment.PaymentView>>
    {
        public async Task<Result<CreatePayment.PaymentView>> Handle(Query request, CancellationToken cancellationToken)
        {
            // Payments of developers have no community and are visible only in the platform scope.
            var payment = await db.Database.CreateExecutionStrategy().ExecuteAsync(async ct =>
            {
                await using var transaction = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, ct);
                await db.EnterPlatformScopeAsync(ct);
                return await db.Set<Payment>().AsNoTracking().SingleOrDefaultAsync(p => p.Id == request.PaymentId, ct);
            }, cancellationToken);
            if (payment is null)
            {
                return new NotFound("payment", request.PaymentId.ToString());
            }

            var community = payment.CommunityId is { } communityId
                ? await db.Set<Community>().AsNoTracking().SingleAsync(c => c.Id == communityId, cancellationToken)
                : null;
            if (request.Viewer is { } viewer && payment.Payer != CommunityAdmins.Stored(viewer)
                && (community is null || !await CommunityAdmins.IsAdminAsync(db, community.Id, viewer, cancellationToken)))
            {
                // The same answer as a payment that does not exist: ids of others' payments are not confirmed.
                return new NotFound("payment", request.PaymentId.ToString());
            }

            return CreatePayment.View(payment, community?.Slug);
        }
    }
}
