using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Developers;

/// <summary>
/// Replaces a key: a new key with the same name, mode and limits, and the old one valid until the grace
/// ends (0: at once). Not an <c>ICommand</c>: the other replicas must hear of the change only after it
/// committed, or one could re-read the old row in between and keep it for a cache lifetime.
/// </summary>
public static class RotateApiKey
{
    public const int MaxGraceSeconds = 86_400;

    public sealed record Command(EthereumAddress Wallet, string KeyId, int? GraceSeconds) : IRequest<Result<Rotated>>;

    public sealed record Rotated(CreateApiKey.CreatedKey Key, string ReplacedId, DateTimeOffset ReplacedExpiresAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.KeyId).Must(id => ApiKeyFormat.IsId(id)).WithMessage("id must be a key id (12 base32 characters).");
            RuleFor(c => c.GraceSeconds).NotNull().InclusiveBetween(0, MaxGraceSeconds);
        }
    }

    internal sealed class Handler(FreesideDb db, DevelopersSettings settings, ApiKeyChanges changes, TimeProvider time)
        : IRequestHandler<Command, Result<Rotated>>
    {
        public async Task<Result<Rotated>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (!settings.KeysEnabled)
            {
                return new ApiKeysUnconfigured();
            }

            var developerId = DeveloperAccounts.IdOf(request.Wallet);
            var result = await db.Database.CreateExecutionStrategy().ExecuteAsync(async ct =>
            {
                db.ChangeTracker.Clear();
                await using var transaction = await db.Database.BeginTransactionAsync(ct);
                var now = time.GetUtcNow();
                var old = await db.Set<ApiKey>().FromSql($"SELECT * FROM api_keys WHERE id = {request.KeyId} AND developer_id = {developerId} FOR UPDATE")
                    .SingleOrDefaultAsync(ct);
                if (old is null)
                {
                    return (Result<Rotated>)new NotFound("api key", request.KeyId);
                }

                if (!old.IsActiveAt(now))
                {
                    return new ApiKeyInactive(old.Id);
                }

                var (key, secret) = CreateApiKey.NewKey(developerId, old.Name, old.Mode, old.RequestsPerMinute, old.TokensPerDay, settings, now);
                db.Add(key);
                var graceEnds = now.AddSeconds(request.GraceSeconds!.Value);
                old.ExpiresAt = old.ExpiresAt is { } earlier && earlier < graceEnds ? earlier : graceEnds;
                await db.SaveChangesAsync(ct);
                old.ReplacedBy = key.Id;
                await db.SaveChangesAsync(ct);
                await transaction.CommitAsync(ct);
                return new Rotated(new CreateApiKey.CreatedKey(key.Id, ApiKeyFormat.Format(key.Id, key.Mode == "live", secret), key.Name, key.Mode,
                    key.RequestsPerMinute, key.TokensPerDay, now), old.Id, old.ExpiresAt.Value);
            }, cancellationToken);
            if (result.IsSuccess)
            {
                await changes.KeyChangedAsync(request.KeyId);
            }

            return result;
        }
    }
}
