using System.Numerics;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Identity.Ownership;
using Freeside.Features.Identity.S2S;

namespace Freeside.Features.Inference;

/// <summary>An agent a wallet may use: the community, and the NFT the wallet owns on chain right now.</summary>
public sealed record OwnedAgent(Community Community, string NftId, string Wallet);

internal static class AgentAccess
{
    /// <summary>404 for an unknown community or a token that does not exist on chain; 403 when another wallet owns it.</summary>
    public static async Task<Result<OwnedAgent>> ResolveAsync(
        FreesideDb db, NftOwnership ownership, string slug, string tokenId, EthereumAddress wallet, CancellationToken cancellationToken)
    {
        var found = await db.CommunityBySlugAsync(slug, cancellationToken);
        if (found.Error is { } notFound)
        {
            return notFound;
        }

        var community = found.Value;
        var token = BigInteger.Parse(tokenId, System.Globalization.CultureInfo.InvariantCulture);
        var owner = await ownership.OwnerOfAsync(community.ChainId, community.CollectionAddress, token, cancellationToken);
        if (!owner.IsSuccess)
        {
            return owner.Error!;
        }

        if (owner.Value is null)
        {
            return new NotFound("token", tokenId);
        }

        if (owner.Value != wallet)
        {
            return new AccessDenied($"Only the wallet that owns token {tokenId} may use its agent.");
        }

        return new OwnedAgent(community, S2SJwtSigner.NftId(community.ChainId, community.CollectionAddress, tokenId),
            wallet.ToChecksumString().ToLowerInvariant());
    }

    public static bool IsTokenId(string? tokenId) =>
        tokenId is { Length: > 0 and <= 78 } && BigInteger.TryParse(tokenId, System.Globalization.NumberStyles.None, null, out _);
}
