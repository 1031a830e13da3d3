using System.Collections.Concurrent;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using MediatR;

// TEMPORARY (telegram branch): the Linking types of /work/brief/linking.md, stubbed until the
// coordinator's Linking lands on main; this commit is reverted before that merge.
namespace Freeside.Features.Linking;

public enum LinkPlatform { Discord, Telegram }

public static class StartLink
{
    public sealed record Command(LinkPlatform Platform, string ExternalUserId, string? DisplayName) : ICommand<View>;

    public sealed record View(Uri Url, DateTimeOffset ExpiresAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.ExternalUserId).NotEmpty();
    }

    internal sealed class Handler : IRequestHandler<Command, Result<View>>
    {
        public Task<Result<View>> Handle(Command request, CancellationToken cancellationToken) =>
            Task.FromResult<Result<View>>(new View(new Uri("http://127.0.0.1/link/" + Guid.NewGuid().ToString("N")), DateTimeOffset.UtcNow.AddMinutes(15)));
    }
}

public static class FindLinkedWallet
{
    internal static readonly ConcurrentDictionary<(LinkPlatform, string), EthereumAddress> Links = new();

    public sealed record Query(LinkPlatform Platform, string ExternalUserId) : IQuery<View>;

    public sealed record View(EthereumAddress? Wallet, DateTimeOffset? LinkedAt);

    internal sealed class Handler : IRequestHandler<Query, Result<View>>
    {
        public Task<Result<View>> Handle(Query request, CancellationToken cancellationToken) =>
            Task.FromResult<Result<View>>(Links.TryGetValue((request.Platform, request.ExternalUserId), out var wallet)
                ? new View(wallet, DateTimeOffset.UtcNow)
                : new View(null, null));
    }
}

public sealed record WalletLinked(LinkPlatform Platform, string ExternalUserId, EthereumAddress Wallet) : INotification;
