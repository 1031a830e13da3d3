using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Developers;

/// <summary>
/// The platform admin sets a developer's tier (pro or enterprise); live keys use its pools from the next
/// request on every replica. Not an <c>ICommand</c> for the same reason as <see cref="RevokeApiKey"/>.
/// </summary>
public static class SetDeveloperTier
{
    public sealed record Command(EthereumAddress Wallet, string? Tier) : IRequest<Result<View>>;

    public sealed record View(string Address, string Tier);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Tier).Must(t => t is Developer.Pro or Developer.Enterprise).WithMessage("tier must be pro or enterprise.");
    }

    internal sealed class Handler(FreesideDb db, ApiKeyChanges changes, TimeProvider time) : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            var id = DeveloperAccounts.IdOf(request.Wallet);
            var wallet = DeveloperAccounts.Stored(request.Wallet);
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO developers (id, wallet, tier, created_at) VALUES ({id}, {wallet}, {request.Tier}, {time.GetUtcNow()})
                ON CONFLICT (id) DO UPDATE SET tier = EXCLUDED.tier
                """, cancellationToken);
            await changes.DeveloperChangedAsync(id);
            return new View(request.Wallet.ToChecksumString(), request.Tier!);
        }
    }
}
