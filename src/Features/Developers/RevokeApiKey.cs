using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Developers;

/// <summary>
/// Deletes a key: one committed UPDATE, then every replica drops it from its cache, so the next request
/// with it is 401 anywhere. Deleting a deleted key is a no-op (204); the row stays for the usage history.
/// Not an <c>ICommand</c>: the change must be committed before the other replicas are told (see <see cref="RotateApiKey"/>).
/// </summary>
public static class RevokeApiKey
{
    public sealed record Command(EthereumAddress Wallet, string KeyId) : IRequest<Result<bool>>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.KeyId).Must(id => ApiKeyFormat.IsId(id)).WithMessage("id must be a key id (12 base32 characters).");
    }

    internal sealed class Handler(FreesideDb db, ApiKeyChanges changes, TimeProvider time) : IRequestHandler<Command, Result<bool>>
    {
        public async Task<Result<bool>> Handle(Command request, CancellationToken cancellationToken)
        {
            var developerId = DeveloperAccounts.IdOf(request.Wallet);
            var now = time.GetUtcNow();
            var changed = await db.Set<ApiKey>().Where(k => k.Id == request.KeyId && k.DeveloperId == developerId && k.RevokedAt == null)
                .ExecuteUpdateAsync(s => s.SetProperty(k => k.RevokedAt, now), cancellationToken);
            if (changed == 0 && !await db.Set<ApiKey>().AnyAsync(k => k.Id == request.KeyId && k.DeveloperId == developerId, cancellationToken))
            {
                return new NotFound("api key", request.KeyId);
            }

            await changes.KeyChangedAsync(request.KeyId);
            return changed > 0;
        }
    }
}
