using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Telegram.Bot;
using Telegram.Bot.Types;

namespace Freeside.Features.Telegram;

/// <summary>
/// One update from Telegram (the webhook, or long polling): the secret token is checked first,
/// in constant time, and nothing else happens without it; the update id is then recorded, and only
/// an id seen for the first time is queued for <see cref="HandleUpdate"/>. Telegram redelivers an
/// update until it gets a 200, so the answer comes at once and the work (a streamed reply may take
/// a minute) happens after it.
/// </summary>
public static class ReceiveUpdate
{
    public const int MaxBodyBytes = 1024 * 1024;
    public const string SecretHeader = "X-Telegram-Bot-Api-Secret-Token";

    /// <param name="Trusted">True for updates Freeside fetched itself (getUpdates), which carry no secret.</param>
    public sealed record Command(byte[] Body, string? SecretToken, bool Trusted = false) : IRequest<Result<Outcome>>;

    /// <param name="Accepted">False for an update id already received (a redelivery): acknowledged, not processed again.</param>
    public sealed record Outcome(long UpdateId, bool Accepted);

    internal sealed class Handler(TelegramSettings settings, IMediator mediator, TelegramUpdateQueue queue) : IRequestHandler<Command, Result<Outcome>>
    {
        public async Task<Result<Outcome>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (!request.Trusted && !SecretMatches(settings, request.SecretToken))
            {
                return new Unauthenticated($"{SecretHeader} is missing or wrong.");
            }

            Update? update;
            try
            {
                update = JsonSerializer.Deserialize<Update>(request.Body, JsonBotAPI.Options);
            }
            catch (JsonException)
            {
                update = null;
            }

            if (update is not { Id: > 0 })
            {
                return new ValidationFailed(new Dictionary<string, string[]> { ["body"] = ["must be a Telegram Update object with a positive update_id."] });
            }

            var recorded = await mediator.Send(new RecordUpdate.Command(update.Id, update.Type.ToString(), Encoding.UTF8.GetString(request.Body)), cancellationToken);
            if (!recorded.IsSuccess)
            {
                return recorded.Error!;
            }

            if (recorded.Value)
            {
                queue.Enqueue(update);
            }

            return new Outcome(update.Id, recorded.Value);
        }

        /// <summary>Without a bot token or a configured secret nothing matches. Both sides are hashed first so the comparison's time says nothing about the length either.</summary>
        internal static bool SecretMatches(TelegramSettings settings, string? presented)
        {
            if (!settings.Enabled || settings.WebhookSecret is not { } secret || presented is null)
            {
                return false;
            }

            return CryptographicOperations.FixedTimeEquals(
                SHA256.HashData(Encoding.UTF8.GetBytes(secret)), SHA256.HashData(Encoding.UTF8.GetBytes(presented)));
        }
    }
}

/// <summary>
/// Records an update id with its body, claimed by this process; true when it was not seen before (the
/// replay guard: one row per id, first writer wins). The body stays until the update is handled.
/// </summary>
public static class RecordUpdate
{
    public sealed record Command(long UpdateId, string Kind, [property: MultiLine] string Body) : ICommand<bool>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.UpdateId).GreaterThan(0);
            RuleFor(c => c.Kind).NotEmpty().MaximumLength(40);
            RuleFor(c => c.Body).NotEmpty().MaximumLength(ReceiveUpdate.MaxBodyBytes);
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<bool>>
    {
        public async Task<Result<bool>> Handle(Command request, CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow();
            var inserted = await db.Database.ExecuteSqlInterpolatedAsync(
                $"INSERT INTO telegram_updates (update_id, kind, received_at, body, claimed_at) VALUES ({request.UpdateId}, {request.Kind}, {now}, {request.Body}, {now}) ON CONFLICT (update_id) DO NOTHING",
                cancellationToken);
            return inserted == 1;
        }
    }
}

/// <summary>An update's work is done (answered, or refused for good): its body is no longer needed.</summary>
public static class MarkUpdateHandled
{
    public sealed record Command(long UpdateId) : ICommand<bool>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.UpdateId).GreaterThan(0);
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<bool>>
    {
        public async Task<Result<bool>> Handle(Command request, CancellationToken cancellationToken) =>
            await db.Database.ExecuteSqlInterpolatedAsync(
                $"UPDATE telegram_updates SET handled_at = {time.GetUtcNow()}, body = NULL WHERE update_id = {request.UpdateId} AND handled_at IS NULL",
                cancellationToken) == 1;
    }
}

/// <summary>
/// Takes over accepted updates that nobody finished: claimed longer ago than <see cref="RecoverAfter"/>
/// (longer than any streamed reply takes) and not handled — their process died after Telegram got its 200.
/// SKIP LOCKED, so replicas recovering at once split the work instead of doubling it.
/// </summary>
public static class ClaimStrandedUpdates
{
    public static readonly TimeSpan RecoverAfter = TimeSpan.FromMinutes(10);

    public sealed record Command(int Limit = 50) : ICommand<IReadOnlyList<Update>>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Limit).InclusiveBetween(1, 500);
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<IReadOnlyList<Update>>>
    {
        public async Task<Result<IReadOnlyList<Update>>> Handle(Command request, CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow();
            var bodies = await db.Database.SqlQuery<string>($"""
                UPDATE telegram_updates SET claimed_at = {now}
                WHERE update_id IN (
                    SELECT update_id FROM telegram_updates
                    WHERE handled_at IS NULL AND claimed_at < {now - RecoverAfter}
                    ORDER BY update_id LIMIT {request.Limit} FOR UPDATE SKIP LOCKED)
                RETURNING body AS "Value"
                """).ToListAsync(cancellationToken);
            var updates = new List<Update>();
            foreach (var body in bodies)
            {
                try
                {
                    if (JsonSerializer.Deserialize<Update>(body, JsonBotAPI.Options) is { Id: > 0 } update)
                    {
                        updates.Add(update);
                    }
                }
                catch (JsonException)
                {
                    // It parsed when it arrived; a body that no longer does is skipped, not retried forever.
                }
            }

            return updates.OrderBy(u => u.Id).ToList();
        }
    }
}
