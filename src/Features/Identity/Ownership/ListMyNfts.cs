using System.Globalization;
using System.Numerics;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Identity.Ownership;

public static class ListMyNfts
{
    /// <summary>Each id is one chain call when not cached; more per request would let one request fan out.</summary>
    public const int MaxTokenIds = 20;

    /// <summary>
    /// The caller's tokens in a community's collection. Enumerable collections are listed; for the
    /// others only <paramref name="TokenIds"/> (the ids the caller asks about) can be checked.
    /// </summary>
    public sealed record Query(string Community, EthereumAddress Owner, IReadOnlyList<string> TokenIds) : IQuery<View>;

    public sealed record View(
        string Community,
        long ChainId,
        string Collection,
        string Owner,
        bool Enumerable,
        string Balance,
        bool Holder,
        IReadOnlyList<string> TokenIds);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Community).NotEmpty().MaximumLength(63);
            RuleFor(q => q.TokenIds).Must(ids => ids.Count <= MaxTokenIds)
                .WithMessage($"token_id may be given at most {MaxTokenIds} times.");
            RuleForEach(q => q.TokenIds).Must(id => Erc721Abi.TryParseTokenId(id, out _))
                .WithMessage("token_id must be a decimal uint256 without leading zeros.");
        }
    }

    internal sealed class Handler(FreesideDb db, NftOwnership ownership) : IRequestHandler<Query, Result<View>>
    {
        public async Task<Result<View>> Handle(Query request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Community, cancellationToken);
            if (found.Error is { } notFound)
            {
                return notFound;
            }

            var community = found.Value;

            var (chain, collection) = (community.ChainId, community.CollectionAddress);
            var enumerable = await ownership.IsEnumerableAsync(chain, collection, cancellationToken);
            if (!enumerable.IsSuccess)
            {
                return enumerable.Error!;
            }

            var balance = await ownership.BalanceOfAsync(chain, collection, request.Owner, cancellationToken);
            if (!balance.IsSuccess)
            {
                return balance.Error!;
            }

            IReadOnlyList<string> owned;
            if (request.TokenIds.Count > 0)
            {
                var checkedIds = new List<string>();
                foreach (var text in request.TokenIds.Distinct(StringComparer.Ordinal))
                {
                    Erc721Abi.TryParseTokenId(text, out var tokenId);
                    var owner = await ownership.OwnerOfAsync(chain, collection, tokenId, cancellationToken);
                    if (!owner.IsSuccess)
                    {
                        return owner.Error!;
                    }

                    if (owner.Value == request.Owner)
                    {
                        checkedIds.Add(text);
                    }
                }

                owned = checkedIds;
            }
            else if (enumerable.Value && balance.Value > BigInteger.Zero)
            {
                var listed = await ownership.TokensOfAsync(chain, collection, request.Owner, balance.Value, cancellationToken);
                if (!listed.IsSuccess)
                {
                    return listed.Error!;
                }

                owned = listed.Value;
            }
            else
            {
                owned = [];
            }

            return new View(community.Slug, chain, EthereumAddress.TryParse(collection, out var parsed) ? parsed.ToChecksumString() : collection,
                request.Owner.ToChecksumString(), enumerable.Value, balance.Value.ToString(CultureInfo.InvariantCulture),
                balance.Value > BigInteger.Zero, owned);
        }
    }
}
