using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;

namespace Freeside.Features.Admin;

/// <summary>A community's money: balance by lot column, debt, the newest lots, payments, refunds and reversals (100 each).</summary>
public static class GetBilling
{
    private const int Newest = 100;

    public sealed record Query(string Slug, EthereumAddress? Viewer) : IQuery<BillingView>;

    public sealed record BillingView(
        long AvailableMicro, long ReservedMicro, long ConsumedMicro, long ExpiredMicro, long TakenBackMicro, long DebtMicro,
        IReadOnlyList<LotView> Lots, IReadOnlyList<PaymentView> Payments, IReadOnlyList<RefundView> Refunds, IReadOnlyList<ReversalView> Reversals);

    public sealed record LotView(Guid Id, string Source, long OriginalMicro, long AvailableMicro, long ReservedMicro, long ConsumedMicro,
        long ExpiredMicro, long TakenBackMicro, DateTimeOffset? ExpiresAt, DateTimeOffset CreatedAt);

    /// <summary>Payer is shown only when it is a wallet address (EIP-55).</summary>
    public sealed record PaymentView(Guid Id, string OrderId, string PackId, long PriceMicro, long CreditsMicro, string Status, string? Payer,
        DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

    public sealed record RefundView(string PurchaseRef, long CreditsMicro, long TakenMicro, long DebtMicro, DateTimeOffset CreatedAt);

    public sealed record ReversalView(Guid ReservationId, long AmountMicro, string Reason, DateTimeOffset CreatedAt);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<BillingView>>
    {
        public async Task<Result<BillingView>> Handle(Query request, CancellationToken cancellationToken)
        {
            var access = await AdminAccess.ResolveAsync(db, request.Slug, request.Viewer, cancellationToken);
            if (access.Error is { } denied)
            {
                return denied;
            }

            var community = access.Value.Id;
            var now = time.GetUtcNow();
            return await db.ReadInCommunityAsync(community, async ct =>
            {
                // Credit still available on a lot past its expiry is not spendable; it shows as expired (as GetBalance does).
                var totals = (await AdminAccess.ListAsync(db, community, """
                    SELECT coalesce(sum(available) FILTER (WHERE expires_at IS NULL OR expires_at > @now), 0)::bigint,
                           coalesce(sum(reserved), 0)::bigint, coalesce(sum(consumed), 0)::bigint,
                           coalesce(sum(expired), 0)::bigint + coalesce(sum(available) FILTER (WHERE expires_at <= @now), 0)::bigint,
                           coalesce(sum(taken_back), 0)::bigint,
                           (SELECT coalesce(sum(debt_micro), 0)::bigint FROM credit_accounts WHERE community_id = @c)
                    FROM credit_lots WHERE community_id = @c
                    """, r => (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5)), ct, ("now", now)))[0];
                var lots = await AdminAccess.ListAsync(db, community, $"""
                    SELECT id, source, original, available, reserved, consumed, expired, taken_back, expires_at, created_at
                    FROM credit_lots WHERE community_id = @c ORDER BY created_at DESC, id LIMIT {Newest}
                    """, r => new LotView(r.GetGuid(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6),
                        r.GetInt64(7), r.IsDBNull(8) ? null : r.GetFieldValue<DateTimeOffset>(8), r.GetFieldValue<DateTimeOffset>(9)), ct);
                var payments = await AdminAccess.ListAsync(db, community, $"""
                    SELECT id, order_id, pack_id, price_micro, credits_micro, status, payer, created_at, updated_at
                    FROM payments WHERE community_id = @c ORDER BY created_at DESC, id LIMIT {Newest}
                    """, r => new PaymentView(r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetInt64(4), r.GetString(5),
                        AdminAccess.Checksummed(r.GetString(6)), r.GetFieldValue<DateTimeOffset>(7), r.GetFieldValue<DateTimeOffset>(8)), ct);
                var refunds = await AdminAccess.ListAsync(db, community, $"""
                    SELECT source_ref, credits_micro, taken_micro, debt_micro, created_at
                    FROM credit_clawbacks WHERE community_id = @c ORDER BY created_at DESC, id LIMIT {Newest}
                    """, r => new RefundView(r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetFieldValue<DateTimeOffset>(4)), ct);
                var reversals = await AdminAccess.ListAsync(db, community, $"""
                    SELECT reservation_id, amount, reason, created_at
                    FROM credit_reversals WHERE community_id = @c ORDER BY created_at DESC, id LIMIT {Newest}
                    """, r => new ReversalView(r.GetGuid(0), r.GetInt64(1), r.GetString(2), r.GetFieldValue<DateTimeOffset>(3)), ct);
                return new BillingView(totals.Item1, totals.Item2, totals.Item3, totals.Item4, totals.Item5, totals.Item6, lots, payments, refunds, reversals);
            }, cancellationToken);
        }
    }
}
