using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Identity.Keys;

public static class RotateSigningKey
{
    public enum Trigger
    {
        /// <summary>A platform admin asked: always rotate.</summary>
        Manual,

        /// <summary>The quarterly job: rotate when the active key is older than SIGNING_KEY_MAX_AGE_SECONDS.</summary>
        Scheduled,

        /// <summary>Start-up: create a key only when there is no active key this KEK can open.</summary>
        Bootstrap,
    }

    public sealed record Command(Trigger Reason) : ICommand<View>;

    public sealed record View(bool Rotated, string ActiveKid, DateTimeOffset ActivatedAt, string? RetiredKid);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Reason).IsInEnum();
    }

    internal sealed class Handler(FreesideDb db, KeyProtector protector, SigningKeyRing ring, IdentitySettings settings, TimeProvider time)
        : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            // Replicas starting together, or a job firing beside an admin, rotate one at a time.
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext('freeside.jwks_keys.rotate'))", cancellationToken);

            var now = time.GetUtcNow();
            var active = await db.Set<SigningKey>().SingleOrDefaultAsync(k => k.RetiredAt == null, cancellationToken);
            var usable = active is not null && active.KekId == protector.KekId
                && protector.TryOpen(active.PrivateKeyCiphertext, active.Kid) is not null;
            var keep = request.Reason switch
            {
                Trigger.Bootstrap => usable,
                Trigger.Scheduled => usable && now - active!.ActivatedAt < settings.SigningKeyMaxAge,
                _ => false,
            };
            if (keep)
            {
                return new View(false, active!.Kid, active.ActivatedAt, null);
            }

            if (active is not null)
            {
                // Retired first: the partial unique index allows one active key at a time.
                await db.Database.ExecuteSqlAsync(
                    $"UPDATE jwks_keys SET retired_at = {now} WHERE kid = {active.Kid} AND retired_at IS NULL", cancellationToken);
                db.Entry(active).State = EntityState.Detached;
            }

            var created = NewActiveKey(protector, now);
            db.Add(created);
            ring.MarkStale();
            return new View(true, created.Kid, now, active?.Kid);
        }
    }

    /// <summary>A fresh key pair, sealed under the KEK, active from <paramref name="now"/> (the caller has retired the old one).</summary>
    internal static SigningKey NewActiveKey(KeyProtector protector, DateTimeOffset now)
    {
        var material = SigningKeyMaterial.Generate();
        try
        {
            return new SigningKey
            {
                Kid = material.Kid,
                CreatedAt = now,
                ActivatedAt = now,
                PublicJwk = material.PublicJwk,
                PrivateKeyCiphertext = protector.Seal(material.PrivateScalar, material.Kid),
                KekId = protector.KekId,
            };
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(material.PrivateScalar);
        }
    }
}
