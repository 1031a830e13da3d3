using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Identity;

public static class PurgeExpiredIdentityRecords
{
    /// <summary>Deletes nonces and revocations that can no longer matter: a day past their expiry.</summary>
    public sealed record Command : ICommand<View>;

    public sealed record View(int Nonces, int Revocations);

    public sealed class Validator : AbstractValidator<Command>;

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            var cutoff = time.GetUtcNow().AddDays(-1);
            var nonces = await db.Database.ExecuteSqlAsync($"DELETE FROM siwe_nonces WHERE expires_at < {cutoff}", cancellationToken);
            var revocations = await db.Database.ExecuteSqlAsync($"DELETE FROM revoked_sessions WHERE expires_at < {cutoff}", cancellationToken);
            return new View(nonces, revocations);
        }
    }
}
