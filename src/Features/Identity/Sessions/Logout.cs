using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Identity.Sessions;

public static class Logout
{
    /// <summary>Revokes the caller's session token (by jti) until it would have expired.</summary>
    public sealed record Command(Guid Jti, DateTimeOffset ExpiresAt) : ICommand<View>;

    public sealed record View(Guid Jti, DateTimeOffset RevokedUntil);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Jti).NotEmpty();
    }

    internal sealed class Handler(FreesideDb db, RevocationList revocations, TimeProvider time) : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            await db.Database.ExecuteSqlAsync(
                $"INSERT INTO revoked_sessions (jti, revoked_at, expires_at) VALUES ({request.Jti}, {time.GetUtcNow()}, {request.ExpiresAt}) ON CONFLICT (jti) DO NOTHING",
                cancellationToken);
            await revocations.MirrorAsync(request.Jti, request.ExpiresAt);
            return new View(request.Jti, request.ExpiresAt);
        }
    }
}
