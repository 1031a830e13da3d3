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
        /// <summary>One statement: a dedupe key already queued (by anyone, even concurrently) is skipped by ON CONFLICT, not by a read first.</summary>
        public async Task<Result<int>> Handle(Command request, CancellationToken cancellationToken)
        {
            var writes = request.Writes.DistinctBy(w => w.DedupeKey ?? w.Id.ToString()).ToList();
            var ids = writes.Select(w => w.Id).ToArray();
            var keys = writes.Select(w => w.DedupeKey).ToArray();
            var origins = writes.Select(w => w.Origin).ToArray();
            var methods = writes.Select(w => w.Method).ToArray();
            var paths = writes.Select(w => w.Path).ToArray();
            var bodies = writes.Select(w => w.Body).ToArray();
            var due = writes.Select(w => w.NextAttemptAt.ToUniversalTime()).ToArray();
            var created = writes.Select(w => w.CreatedAt.ToUniversalTime()).ToArray();
            var queued = await db.Database.ExecuteSqlAsync($"""
                INSERT INTO discord_writes (id, dedupe_key, origin, method, path, body, status, attempts, next_attempt_at, created_at)
                SELECT w.id, w.dedupe_key, w.origin, w.method, w.path, w.body, 'pending', 0, w.next_attempt_at, w.created_at
                FROM unnest({ids}, {keys}, {origins}, {methods}, {paths}, {bodies}, {due}, {created})
                    AS w(id, dedupe_key, origin, method, path, body, next_attempt_at, created_at)
                ON CONFLICT (dedupe_key) DO NOTHING
                """, cancellationToken);
            if (queued > 0)
            {
                signal.Notify();
            }

            return queued;
        }
    }
}
