using System.Text.RegularExpressions;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Discord;

/// <summary>Discord writes the queue gave up on, newest first (platform admin).</summary>
public static partial class ListDeadLetters
{
    public sealed record Query(int? Limit) : IQuery<Page>;

    public sealed record Page(IReadOnlyList<DeadLetter> Items, int Pending);

    public sealed record DeadLetter(Guid Id, string Origin, string Method, string Path, int Attempts, int? LastStatus, string? LastError,
        DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Limit).InclusiveBetween(1, 100);
        }
    }

    internal sealed class Handler(FreesideDb db) : IRequestHandler<Query, Result<Page>>
    {
        public async Task<Result<Page>> Handle(Query request, CancellationToken cancellationToken)
        {
            var rows = await db.Set<DiscordWrite>().AsNoTracking().Where(w => w.Status == DiscordWriteStatus.Dead)
                .OrderByDescending(w => w.FinishedAt).ThenBy(w => w.Id).Take(request.Limit ?? 50).ToListAsync(cancellationToken);
            var pending = await db.Set<DiscordWrite>().CountAsync(w => w.Status == DiscordWriteStatus.Pending, cancellationToken);
            return new Page(rows.Select(w => new DeadLetter(w.Id, w.Origin, w.Method, Redact(w.Path), w.Attempts, w.LastStatus, w.LastError,
                w.CreatedAt, w.FinishedAt)).ToList(), pending);
        }
    }

    /// <summary>An interaction webhook's token lets anyone answer as the bot for 15 minutes: never shown.</summary>
    public static string Redact(string path) => WebhookToken().Replace(path, "webhooks/$1/***");

    [GeneratedRegex(@"webhooks/([0-9]+)/[^/]+")]
    private static partial Regex WebhookToken();
}
