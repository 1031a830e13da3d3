using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Identity.Ownership;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Developers;

/// <summary>
/// <c>GET /v1/models</c>: the pools the key may use, then an <c>agent:&lt;slug&gt;/&lt;tokenId&gt;</c> model for each
/// NFT the developer's wallet holds in an enumerable collection of a community (read from the chain, cached by Identity).
/// A community whose chain cannot be read is left out rather than failing the list.
/// </summary>
public static class ListModels
{
    public const int MaxCommunities = 50;

    public sealed record Query(VerifiedKey Key) : IRequest<Result<IReadOnlyList<string>>>;

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Key).NotNull();
    }

    internal sealed class Handler(FreesideDb db, IMediator mediator) : IRequestHandler<Query, Result<IReadOnlyList<string>>>
    {
        public async Task<Result<IReadOnlyList<string>>> Handle(Query request, CancellationToken cancellationToken)
        {
            var models = new List<string>(CompleteChat.PoolsOf(request.Key));
            if (!EthereumAddress.TryParse(request.Key.Wallet, out var wallet))
            {
                return models;
            }

            var slugs = await db.Set<Community>().AsNoTracking().OrderBy(c => c.Slug).Select(c => c.Slug).Take(MaxCommunities).ToListAsync(cancellationToken);
            foreach (var slug in slugs)
            {
                var held = await mediator.Send(new ListMyNfts.Query(slug, wallet, []), cancellationToken);
                if (held.IsSuccess)
                {
                    models.AddRange(held.Value.TokenIds.Select(token => $"{CompleteChat.AgentPrefix}{slug}/{token}"));
                }
            }

            return models;
        }
    }
}
