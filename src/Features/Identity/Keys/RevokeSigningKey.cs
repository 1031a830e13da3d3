using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Identity.Keys;

/// <summary>
/// Takes a (compromised) signing key out of service now, without the retire grace: it leaves the
/// JWKS and no token signed by it verifies any more. Revoking the active key activates a new one in
/// the same transaction, so sign-in keeps working. The row records when and why (the audit record),
/// and a structured <c>signing_key_revoked</c> event is logged.
/// </summary>
public static partial class RevokeSigningKey
{
    public sealed record Body(string? Reason);

    public sealed record Command(string Kid, string Reason) : ICommand<View>;

    /// <param name="ReplacementKid">The newly activated key when the revoked one was active.</param>
    public sealed record View(string Kid, DateTimeOffset RevokedAt, string Reason, bool WasActive, string? ReplacementKid, bool AlreadyRevoked);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Kid).NotEmpty().Matches("^[A-Za-z0-9_-]{43}$").WithMessage("kid must be a key id as published in the JWKS (43 base64url characters).");
            RuleFor(c => c.Reason).NotEmpty().MaximumLength(500);
        }
    }

    internal sealed partial class Handler(
        FreesideDb db, KeyProtector protector, SigningKeyRing ring, SigningKeyRevocationFanout fanout, TimeProvider time, ILogger<Handler> logger)
        : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            // Serialised with rotations: both decide which key is active.
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext('freeside.jwks_keys.rotate'))", cancellationToken);

            var key = await db.Set<SigningKey>().AsNoTracking().SingleOrDefaultAsync(k => k.Kid == request.Kid, cancellationToken);
            if (key is null)
            {
                return new NotFound("signing key", request.Kid);
            }

            if (key.RevokedAt is { } revokedAt)
            {
                ring.Revoke(key.Kid);
                return new View(key.Kid, revokedAt, key.RevokedReason!, false, null, AlreadyRevoked: true);
            }

            var now = time.GetUtcNow();
            var wasActive = key.RetiredAt is null;
            // Written at once (not at the behavior's save): the partial unique index allows one active key at a time.
            await db.Database.ExecuteSqlAsync(
                $"UPDATE jwks_keys SET retired_at = COALESCE(retired_at, {now}), revoked_at = {now}, revoked_reason = {request.Reason} WHERE kid = {key.Kid}",
                cancellationToken);
            string? replacement = null;
            if (wasActive)
            {
                var created = RotateSigningKey.NewActiveKey(protector, now);
                db.Add(created);
                replacement = created.Kid;
            }

            // This replica stops trusting it now, even before the commit; a rolled-back revocation fails closed.
            ring.Revoke(key.Kid);
            await fanout.PublishAsync(key.Kid);
            LogRevoked(logger, key.Kid, request.Reason, wasActive, replacement);
            return new View(key.Kid, now, request.Reason, wasActive, replacement, AlreadyRevoked: false);
        }

        [LoggerMessage(EventId = 4103, Level = LogLevel.Warning,
            Message = "signing_key_revoked: {Kid} revoked by the platform admin ({Reason}); was active: {WasActive}, replaced by {ReplacementKid}")]
        private static partial void LogRevoked(ILogger logger, string kid, string reason, bool wasActive, string? replacementKid);
    }
}
