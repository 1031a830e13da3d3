using System.Globalization;
using System.Numerics;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;

namespace Freeside.Features.Identity.Ownership;

/// <summary>Cached ERC-721 facts about one collection, as Freeside's ownership questions need them.</summary>
public sealed class NftOwnership(ChainReader reader, OwnershipCache cache)
{
    public const int MaxListed = 100;
    private const string None = "none";

    public async Task<Result<EthereumAddress?>> OwnerOfAsync(long chainId, string collection, BigInteger tokenId, CancellationToken cancellationToken)
    {
        var cached = await cache.GetOrReadAsync($"{chainId}:{collection}:owner:{tokenId}", async ct =>
        {
            var owner = await reader.OwnerOfAsync(chainId, collection, tokenId, ct);
            return owner.IsSuccess ? owner.Value?.ToChecksumString() ?? None : Result<string>.Failure(owner.Error!);
        }, cancellationToken);
        if (!cached.IsSuccess)
        {
            return cached.Error!;
        }

        return Result<EthereumAddress?>.Success(
            cached.Value != None && EthereumAddress.TryParse(cached.Value, out var address) ? address : null);
    }

    public async Task<Result<BigInteger>> BalanceOfAsync(long chainId, string collection, EthereumAddress owner, CancellationToken cancellationToken)
    {
        var cached = await cache.GetOrReadAsync($"{chainId}:{collection}:balance:{owner.ToChecksumString()}", async ct =>
        {
            var balance = await reader.BalanceOfAsync(chainId, collection, owner, ct);
            return balance.IsSuccess ? balance.Value.ToString(CultureInfo.InvariantCulture) : Result<string>.Failure(balance.Error!);
        }, cancellationToken);
        return cached.IsSuccess ? BigInteger.Parse(cached.Value, CultureInfo.InvariantCulture) : cached.Error!;
    }

    public async Task<Result<bool>> IsEnumerableAsync(long chainId, string collection, CancellationToken cancellationToken)
    {
        var cached = await cache.GetOrReadAsync($"{chainId}:{collection}:enumerable", async ct =>
        {
            var supported = await reader.SupportsInterfaceAsync(chainId, collection, Erc721Abi.Erc721EnumerableInterface, ct);
            return supported.IsSuccess ? supported.Value ? "1" : "0" : Result<string>.Failure(supported.Error!);
        }, cancellationToken);
        return cached.IsSuccess ? cached.Value == "1" : cached.Error!;
    }

    /// <summary>ERC-721 Enumerable only: the owner's first <see cref="MaxListed"/> token ids.</summary>
    public async Task<Result<IReadOnlyList<string>>> TokensOfAsync(long chainId, string collection, EthereumAddress owner, BigInteger balance, CancellationToken cancellationToken)
    {
        var cached = await cache.GetOrReadAsync($"{chainId}:{collection}:tokens:{owner.ToChecksumString()}:{balance}", async ct =>
        {
            var count = (int)BigInteger.Min(balance, MaxListed);
            var ids = new List<string>(count);
            for (var i = 0; i < count; i++)
            {
                var id = await reader.TokenOfOwnerByIndexAsync(chainId, collection, owner, i, ct);
                if (!id.IsSuccess)
                {
                    return Result<string>.Failure(id.Error!);
                }

                ids.Add(id.Value.ToString(CultureInfo.InvariantCulture));
            }

            return string.Join(',', ids);
        }, cancellationToken);
        if (!cached.IsSuccess)
        {
            return cached.Error!;
        }

        return cached.Value.Length == 0 ? [] : cached.Value.Split(',');
    }
}
