using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Developers;

/// <summary>The caller's keys, newest first: ids and limits, never a secret.</summary>
public static class ListApiKeys
{
    public sealed record Query(EthereumAddress Wallet) : IQuery<Page>;

    public sealed record Page(IReadOnlyList<KeyView> Items, string Tier);

    public sealed record KeyView(
        string Id, string Prefix, string Name, string Mode, string Status, int RequestsPerMinute, int TokensPerDay,
        DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt, string? ReplacedBy);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Wallet).NotNull();
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<Page>>
    {
        public async Task<Result<Page>> Handle(Query request, CancellationToken cancellationToken)
        {
            var developerId = DeveloperAccounts.IdOf(request.Wallet);
            var now = time.GetUtcNow();
            var tier = await db.Set<Developer>().AsNoTracking().Where(d => d.Id == developerId).Select(d => d.Tier).FirstOrDefaultAsync(cancellationToken);
            var keys = await db.Set<ApiKey>().AsNoTracking().Where(k => k.DeveloperId == developerId)
                .OrderByDescending(k => k.CreatedAt).ThenBy(k => k.Id).ToListAsync(cancellationToken);
            return new Page([.. keys.Select(k => new KeyView(k.Id, (k.Mode == "live" ? ApiKeyFormat.LivePrefix : ApiKeyFormat.TestPrefix) + k.Id,
                k.Name, k.Mode, Status(k, now), k.RequestsPerMinute, k.TokensPerDay, k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.ReplacedBy))],
                tier ?? Developer.Pro);
        }

        private static string Status(ApiKey key, DateTimeOffset now) =>
            key.RevokedAt is not null ? "revoked"
            : key.ExpiresAt is { } expires ? expires > now ? "rotating" : "expired"
            : "active";
    }
}
