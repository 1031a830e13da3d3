using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;

namespace Freeside.Features.Admin;

/// <summary>A community's spending budgets; null means no cap. Enforced by <see cref="BudgetGuard"/> at reservation.</summary>
public sealed record BudgetView(long? MonthlyCapMicro, long? DailyCapPerWalletMicro, DateTimeOffset? UpdatedAt, long MonthSpentMicro);

public static class SetBudget
{
    public const long MaxCapMicro = 1_000_000_000_000;

    /// <param name="Caller">The signed-in wallet, which must administer the community; null for the platform admin.</param>
    public sealed record Command(string Slug, long? MonthlyCapMicro, long? DailyCapPerWalletMicro, EthereumAddress? Caller) : ICommand<BudgetView>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Slug).NotEmpty().MaximumLength(63);
            RuleFor(c => c.MonthlyCapMicro).InclusiveBetween(0L, MaxCapMicro)
                .WithMessage($"monthly_cap_micro must be between 0 and {MaxCapMicro}, or absent for no cap.");
            RuleFor(c => c.DailyCapPerWalletMicro).InclusiveBetween(0L, MaxCapMicro)
                .WithMessage($"daily_cap_per_wallet_micro must be between 0 and {MaxCapMicro}, or absent for no cap.");
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<BudgetView>>
    {
        public async Task<Result<BudgetView>> Handle(Command request, CancellationToken cancellationToken)
        {
            var access = await AdminAccess.ResolveAsync(db, request.Slug, request.Caller, cancellationToken);
            if (access.Error is { } denied)
            {
                return denied;
            }

            var community = access.Value.Id;
            var now = time.GetUtcNow();
            await db.EnterCommunityAsync(community, cancellationToken);
            await using var upsert = AdminAccess.Command(db, """
                INSERT INTO community_budgets (community_id, monthly_cap_micro, daily_cap_per_wallet_micro, updated_at)
                VALUES (@c, @monthly, @daily, @now)
                ON CONFLICT (community_id) DO UPDATE
                SET monthly_cap_micro = excluded.monthly_cap_micro, daily_cap_per_wallet_micro = excluded.daily_cap_per_wallet_micro, updated_at = excluded.updated_at
                """, community);
            upsert.Parameters.AddWithValue("monthly", (object?)request.MonthlyCapMicro ?? DBNull.Value);
            upsert.Parameters.AddWithValue("daily", (object?)request.DailyCapPerWalletMicro ?? DBNull.Value);
            upsert.Parameters.AddWithValue("now", now);
            await upsert.ExecuteNonQueryAsync(cancellationToken);
            return new BudgetView(request.MonthlyCapMicro, request.DailyCapPerWalletMicro, now,
                await BudgetGuard.SpentAsync(db, community, null, BudgetGuard.MonthStart(now), cancellationToken));
        }
    }
}

public static class GetBudget
{
    public sealed record Query(string Slug, EthereumAddress? Viewer) : IQuery<BudgetView>;

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<BudgetView>>
    {
        public async Task<Result<BudgetView>> Handle(Query request, CancellationToken cancellationToken)
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
                var caps = await BudgetGuard.CapsAsync(db, community, forUpdate: false, ct);
                var spent = await BudgetGuard.SpentAsync(db, community, null, BudgetGuard.MonthStart(now), ct);
                return new BudgetView(caps?.Monthly, caps?.DailyPerWallet, caps?.UpdatedAt, spent);
            }, cancellationToken);
        }
    }
}
