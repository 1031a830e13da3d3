using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Developers;

/// <summary>The caller's API calls over the last <c>days</c> UTC days (today included), per day, key and pool.</summary>
public static class GetUsage
{
    public const int MaxDays = 90;

    public sealed record Query(EthereumAddress Wallet, int? Days) : IQuery<Report>;

    public sealed record Report(int Days, DateTimeOffset Since, long Requests, long TokensInput, long TokensOutput, long AmountMicro, IReadOnlyList<Row> Items);

    public sealed record Row(DateOnly Day, string KeyId, string Mode, string Pool, long Requests, long TokensInput, long TokensOutput, long AmountMicro);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Days).InclusiveBetween(1, MaxDays);
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<Report>>
    {
        public async Task<Result<Report>> Handle(Query request, CancellationToken cancellationToken)
        {
            var developerId = DeveloperAccounts.IdOf(request.Wallet);
            var days = request.Days ?? 30;
            var since = new DateTimeOffset(time.GetUtcNow().UtcDateTime.Date, TimeSpan.Zero).AddDays(1 - days);
            var calls = await db.Set<ApiCall>().AsNoTracking()
                .Where(c => c.DeveloperId == developerId && c.CreatedAt >= since)
                .Select(c => new { c.CreatedAt, c.KeyId, c.Mode, c.PoolId, c.TokensInput, c.TokensOutput, c.AmountMicro })
                .ToListAsync(cancellationToken);
            var rows = calls
                .GroupBy(c => (Day: DateOnly.FromDateTime(c.CreatedAt.UtcDateTime), c.KeyId, c.Mode, c.PoolId))
                .OrderByDescending(g => g.Key.Day).ThenBy(g => g.Key.KeyId, StringComparer.Ordinal).ThenBy(g => g.Key.PoolId, StringComparer.Ordinal)
                .Select(g => new Row(g.Key.Day, g.Key.KeyId, g.Key.Mode, g.Key.PoolId, g.LongCount(), g.Sum(c => (long)c.TokensInput),
                    g.Sum(c => (long)c.TokensOutput), g.Sum(c => c.AmountMicro)))
                .ToList();
            return new Report(days, since, rows.Sum(r => r.Requests), rows.Sum(r => r.TokensInput), rows.Sum(r => r.TokensOutput),
                rows.Sum(r => r.AmountMicro), rows);
        }
    }
}
