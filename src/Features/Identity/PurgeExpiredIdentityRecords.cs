using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Identity;

public static class PurgeExpiredIdentityRecords
{
    /// <summary>
    /// Deletes nonces as soon as they have expired (an expired nonce is refused anyway, and the hourly
    /// run keeps the table to about an hour of issuance) and revocations a day past their expiry.
    /// </summary>
    public sealed record Command : ICommand<View>;

    public sealed record View(int Nonces, int Revocations);

    public sealed class Validator : AbstractValidator<Command>;

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow();
            var nonces = await db.Database.ExecuteSqlAsync($"DELETE FROM siwe_nonces WHERE expires_at < {now}", cancellationToken);
            var cutoff = now.AddDays(-1);
            var revocations = await db.Database.ExecuteSqlAsync($"DELETE FROM revoked_sessions WHERE expires_at < {cutoff}", cancellationToken);
            return new View(nonces, revocations);
        }
    }
}
