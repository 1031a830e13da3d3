using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Discord;

/// <summary>
/// Puts Discord writes on the durable queue in one transaction. A write whose dedupe key is already
/// queued is skipped (the same gateway event delivered twice answers once). Handlers that change their
/// own rows add <see cref="DiscordWrite"/> rows to <see cref="FreesideDb"/> themselves, in their own transaction.
/// </summary>
public static class QueueWrites
{
    public sealed record Command(IReadOnlyList<DiscordWrite> Writes) : ICommand<int>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Writes).NotEmpty();
            RuleForEach(c => c.Writes).Must(w => w.Path.Length is > 0 and <= 2000 && w.Origin.Length is > 0 and <= 100)
                .WithMessage("Each write needs a path of at most 2000 characters and an origin of at most 100.");
        }
    }

    internal sealed class Handler(FreesideDb db, DiscordWriteSignal signal) : IRequestHandler<Command, Result<int>>
    {
        public async Task<Result<int>> Handle(Command request, CancellationToken cancellationToken)
        {
            var keys = request.Writes.Where(w => w.DedupeKey is not null).Select(w => w.DedupeKey!).ToList();
            var known = keys.Count == 0 ? [] : await db.Set<DiscordWrite>().AsNoTracking()
                .Where(w => w.DedupeKey != null && keys.Contains(w.DedupeKey)).Select(w => w.DedupeKey!).ToListAsync(cancellationToken);
            var fresh = request.Writes.Where(w => w.DedupeKey is null || !known.Contains(w.DedupeKey))
                .DistinctBy(w => w.DedupeKey ?? w.Id.ToString()).ToList();
            db.Set<DiscordWrite>().AddRange(fresh);
            signal.Notify();
            return fresh.Count;
        }
    }
}
