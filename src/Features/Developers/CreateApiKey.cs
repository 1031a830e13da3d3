using System.Security.Cryptography;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Ledger;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Developers;

/// <summary>A signed-in wallet makes an API key; the full key is in this answer only.</summary>
public static class CreateApiKey
{
    public const int DefaultRequestsPerMinute = 60;
    public const int DefaultTokensPerDay = 100_000;

    public sealed record Command(EthereumAddress Wallet, string? Name, string? Mode, int? RequestsPerMinute, int? TokensPerDay) : ICommand<CreatedKey>;

    public sealed record CreatedKey(string Id, string Key, string Name, string Mode, int RequestsPerMinute, int TokensPerDay, DateTimeOffset CreatedAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Name).NotEmpty().MaximumLength(100);
            RuleFor(c => c.Mode).Must(m => m is "test" or "live").WithMessage("mode must be test or live.");
            RuleFor(c => c.RequestsPerMinute).InclusiveBetween(1, 1_000);
            RuleFor(c => c.TokensPerDay).InclusiveBetween(1, 10_000_000);
        }
    }

    internal sealed class Handler(FreesideDb db, IMediator mediator, DevelopersSettings settings, TimeProvider time)
        : IRequestHandler<Command, Result<CreatedKey>>
    {
        public async Task<Result<CreatedKey>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (!settings.KeysEnabled)
            {
                return new ApiKeysUnconfigured();
            }

            var now = time.GetUtcNow();
            var developer = await DeveloperAccounts.EnsureLockedAsync(db, request.Wallet, now, cancellationToken);
            var active = await db.Set<ApiKey>().AsNoTracking()
                .CountAsync(k => k.DeveloperId == developer.Id && k.RevokedAt == null && (k.ExpiresAt == null || k.ExpiresAt > now), cancellationToken);
            if (active >= ApiKey.MaxActivePerDeveloper)
            {
                return new TooManyApiKeys();
            }

            // Sandbox calls also go through the ledger (a zero hold, finalized at 0), so both modes need the account.
            var opened = await mediator.Send(new OpenCreditAccount.Command(null, developer.Id), cancellationToken);
            if (!opened.IsSuccess)
            {
                return opened.Error!;
            }

            var live = request.Mode == "live";

            // Sandbox keys carry the sandbox's limits, whatever was asked.
            var (key, secret) = NewKey(developer.Id, request.Name!, request.Mode!,
                live ? request.RequestsPerMinute ?? DefaultRequestsPerMinute : settings.SandboxRequestsPerMinute,
                live ? request.TokensPerDay ?? DefaultTokensPerDay : settings.SandboxTokensPerDay, settings, now);
            db.Add(key);
            return new CreatedKey(key.Id, ApiKeyFormat.Format(key.Id, live, secret), key.Name, key.Mode, key.RequestsPerMinute, key.TokensPerDay, now);
        }
    }

    /// <summary>A new key row and its secret, hashed with the newest pepper.</summary>
    internal static (ApiKey Key, string Secret) NewKey(Guid developerId, string name, string mode, int requestsPerMinute, int tokensPerDay,
        DevelopersSettings settings, DateTimeOffset now)
    {
        var secret = ApiKeyFormat.NewSecret();
        var salt = RandomNumberGenerator.GetBytes(16);
        var version = settings.CurrentPepperVersion;
        return (new ApiKey
        {
            Id = ApiKeyFormat.NewId(), DeveloperId = developerId, Name = name, Mode = mode, Salt = salt,
            SecretHash = ApiKeyVerifier.Hash(settings.Peppers[version], salt, secret), PepperVersion = version,
            RequestsPerMinute = requestsPerMinute, TokensPerDay = tokensPerDay, CreatedAt = now,
        }, secret);
    }
}
