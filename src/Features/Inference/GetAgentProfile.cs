using System.Collections.Concurrent;
using System.Numerics;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Identity.Ownership;
using Freeside.Features.Identity.S2S;
using Freeside.Features.Inference.Finn;
using MediatR;

namespace Freeside.Features.Inference;

/// <summary>An agent's public profile, from finn's personality endpoint, filtered and cached for five minutes.</summary>
public static class GetAgentProfile
{
    public static readonly TimeSpan CacheFor = TimeSpan.FromMinutes(5);

    public sealed record Query(string Slug, string TokenId) : IQuery<ProfileView>;

    public sealed record ProfileView(string NftId, string PersonalityId, string DisplayName, string Element, string Summary);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
            RuleFor(q => q.TokenId).Must(AgentAccess.IsTokenId).WithMessage("token_id must be a decimal ERC-721 token id.");
        }
    }

    internal sealed class Handler(FreesideDb db, NftOwnership ownership, FinnClient finn, ProfileCache cache, InferenceMetrics metrics)
        : IRequestHandler<Query, Result<ProfileView>>
    {
        public async Task<Result<ProfileView>> Handle(Query request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Slug, cancellationToken);
            if (found.Error is { } notFound)
            {
                return notFound;
            }

            var community = found.Value;
            var nftId = S2SJwtSigner.NftId(community.ChainId, community.CollectionAddress, request.TokenId);
            if (cache.TryGet(nftId) is { } cached)
            {
                return cached;
            }

            var owner = await ownership.OwnerOfAsync(community.ChainId, community.CollectionAddress,
                BigInteger.Parse(request.TokenId, System.Globalization.CultureInfo.InvariantCulture), cancellationToken);
            if (!owner.IsSuccess)
            {
                return owner.Error!;
            }

            if (owner.Value is null)
            {
                return new NotFound("token", request.TokenId);
            }

            // A profile moves no money: the reservation claim is a fresh id that no hold stands behind.
            var claims = new S2SClaims("key:profile", community.Id, PoolCatalog.Tier(community.DefaultAccessLevel),
                PoolCatalog.AllowedFor(community.DefaultAccessLevel), Guid.NewGuid(), nftId);
            var personality = await finn.GetPersonalityAsync(claims, cancellationToken);
            if (!personality.IsSuccess)
            {
                return personality.Error!;
            }

            var p = personality.Value;
            var name = AntiNarrationFilter.Clean(p.DisplayName, out var nameHits);
            var summary = AntiNarrationFilter.Clean(p.Summary, out var summaryHits);
            var element = AntiNarrationFilter.Clean(p.Element, out var elementHits);
            metrics.Filtered(nameHits + summaryHits + elementHits);
            var view = new ProfileView(nftId, p.PersonalityId, name, element, summary);
            cache.Put(nftId, view);
            return view;
        }
    }
}

/// <summary>Profiles by nft_id for <see cref="GetAgentProfile.CacheFor"/>, in this process.</summary>
public sealed class ProfileCache(TimeProvider time)
{
    private const int MaxEntries = 100_000;
    private readonly ConcurrentDictionary<string, (GetAgentProfile.ProfileView View, DateTimeOffset Until)> _entries = new(StringComparer.Ordinal);

    public GetAgentProfile.ProfileView? TryGet(string nftId) =>
        _entries.TryGetValue(nftId, out var entry) && entry.Until > time.GetUtcNow() ? entry.View : null;

    public void Put(string nftId, GetAgentProfile.ProfileView view)
    {
        if (_entries.Count >= MaxEntries)
        {
            _entries.Clear();
        }

        _entries[nftId] = (view, time.GetUtcNow() + GetAgentProfile.CacheFor);
    }
}
