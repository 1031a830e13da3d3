using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Numerics;
using System.Text.Json;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Freeside.Features.Identity.Ownership;

/// <summary>
/// The native chain reader: ERC-721 reads over JSON-RPC eth_call, one endpoint per chain id
/// (CHAIN_RPC_URLS). Each chain has its own 5 s timeout and circuit breaker, so a dead RPC answers
/// "unavailable" quickly instead of tying up requests. A revert is an answer (no such token, no such
/// interface); a transport or node error is not, and never becomes "not owned" or "owned".
/// </summary>
public sealed partial class ChainReader(IHttpClientFactory httpClients, IdentitySettings settings, ILogger<ChainReader> logger)
{
    public const string HttpClientName = "chain-rpc";

    private readonly ConcurrentDictionary<long, ResiliencePipeline> _pipelines = new();

    public bool IsConfigured(long chainId) => settings.ChainRpcUrls.ContainsKey(chainId);

    /// <summary>The owner, or null when the token does not exist (ownerOf reverts or answers the zero address).</summary>
    public async Task<Result<EthereumAddress?>> OwnerOfAsync(long chainId, string contract, BigInteger tokenId, CancellationToken cancellationToken)
    {
        var call = await EthCallAsync(chainId, contract, Erc721Abi.EncodeOwnerOf(tokenId), cancellationToken);
        if (call.Error is { } error)
        {
            return error;
        }

        if (call.Value is null)
        {
            return Result<EthereumAddress?>.Success(null);
        }

        if (!Erc721Abi.TryDecodeAddress(call.Value, out var owner))
        {
            return new ChainUnavailable(chainId, "ownerOf answered something that is not an address; is the collection an ERC-721?");
        }

        return Result<EthereumAddress?>.Success(owner.ToArray().AsSpan().ContainsAnyExcept((byte)0) ? owner : null);
    }

    public async Task<Result<BigInteger>> BalanceOfAsync(long chainId, string contract, EthereumAddress owner, CancellationToken cancellationToken)
    {
        var call = await EthCallAsync(chainId, contract, Erc721Abi.EncodeBalanceOf(owner), cancellationToken);
        if (call.Error is { } error)
        {
            return error;
        }

        return call.Value is not null && Erc721Abi.TryDecodeUint(call.Value, out var balance)
            ? balance
            : new ChainUnavailable(chainId, "balanceOf reverted or answered garbage; is the collection an ERC-721?");
    }

    /// <summary>ERC-165; a revert or an empty answer means "not supported".</summary>
    public async Task<Result<bool>> SupportsInterfaceAsync(long chainId, string contract, uint interfaceId, CancellationToken cancellationToken)
    {
        var call = await EthCallAsync(chainId, contract, Erc721Abi.EncodeSupportsInterface(interfaceId), cancellationToken);
        if (call.Error is { } error)
        {
            return error;
        }

        return call.Value is not null && Erc721Abi.TryDecodeBool(call.Value, out var supported) && supported;
    }

    public async Task<Result<BigInteger>> TokenOfOwnerByIndexAsync(long chainId, string contract, EthereumAddress owner, BigInteger index, CancellationToken cancellationToken)
    {
        var call = await EthCallAsync(chainId, contract, Erc721Abi.EncodeTokenOfOwnerByIndex(owner, index), cancellationToken);
        if (call.Error is { } error)
        {
            return error;
        }

        return call.Value is not null && Erc721Abi.TryDecodeUint(call.Value, out var tokenId)
            ? tokenId
            : new ChainUnavailable(chainId, "tokenOfOwnerByIndex reverted; the owner's tokens changed while being listed.");
    }

    /// <summary>Value null: the call reverted.</summary>
    private async Task<Result<byte[]?>> EthCallAsync(long chainId, string contract, string data, CancellationToken cancellationToken)
    {
        if (!settings.ChainRpcUrls.TryGetValue(chainId, out var url))
        {
            return new ChainNotConfigured(chainId);
        }

        var pipeline = _pipelines.GetOrAdd(chainId, _ => BuildPipeline());
        try
        {
            return await pipeline.ExecuteAsync(async ct => await SendAsync(url, contract, data, ct), cancellationToken);
        }
        catch (BrokenCircuitException)
        {
            return new ChainUnavailable(chainId, $"The RPC endpoint for chain {chainId} is failing; calls are paused for a few seconds.");
        }
        catch (TimeoutRejectedException)
        {
            LogRpcFailed(logger, chainId, "timeout");
            return new ChainUnavailable(chainId, $"The RPC endpoint for chain {chainId} did not answer within {settings.ChainRpcTimeout.TotalSeconds:0} s.");
        }
        catch (Exception e) when (e is HttpRequestException or ChainRpcException or JsonException)
        {
            LogRpcFailed(logger, chainId, e.GetType().Name);
            return new ChainUnavailable(chainId, $"The RPC endpoint for chain {chainId} could not be read ({Describe(e)}).");
        }
    }

    private async Task<byte[]?> SendAsync(Uri url, string contract, string data, CancellationToken cancellationToken)
    {
        var client = httpClients.CreateClient(HttpClientName);
        var request = new JsonRpcRequest("2.0", 1, "eth_call", [new EthCall(contract, data), "latest"]);
        using var response = await client.PostAsJsonAsync(url, request, RpcJson.Options, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new ChainRpcException($"HTTP {(int)response.StatusCode}");
        }

        var answer = await response.Content.ReadFromJsonAsync<JsonRpcResponse>(RpcJson.Options, cancellationToken)
            ?? throw new ChainRpcException("empty answer");
        if (answer.Error is { } error)
        {
            // Geth-style nodes and anvil report a revert as code 3, or -32000 "execution reverted".
            if (error.Code == 3 || (error.Message?.Contains("revert", StringComparison.OrdinalIgnoreCase) ?? false))
            {
                return null;
            }

            throw new ChainRpcException($"JSON-RPC error {error.Code}");
        }

        if (answer.Result is not { } hex || !hex.StartsWith("0x", StringComparison.Ordinal) || hex.Length % 2 != 0 || hex.Length > 2 + 4096)
        {
            throw new ChainRpcException("malformed result");
        }

        try
        {
            var bytes = Convert.FromHexString(hex.AsSpan(2));
            return bytes.Length == 0 ? null : bytes;
        }
        catch (FormatException)
        {
            throw new ChainRpcException("malformed result");
        }
    }

    private ResiliencePipeline BuildPipeline() =>
        new ResiliencePipelineBuilder()
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = 0.5,
                MinimumThroughput = 4,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = TimeSpan.FromSeconds(15),
                ShouldHandle = new PredicateBuilder()
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutRejectedException>()
                    .Handle<ChainRpcException>()
                    .Handle<JsonException>(),
            })
            .AddTimeout(settings.ChainRpcTimeout)
            .Build();

    private static string Describe(Exception e) => e switch
    {
        HttpRequestException { HttpRequestError: var kind } => "connection: " + kind,
        ChainRpcException rpc => rpc.Message,
        _ => "unreadable answer",
    };

    [LoggerMessage(EventId = 4401, Level = LogLevel.Warning, Message = "Chain {ChainId} RPC call failed: {Reason}")]
    private static partial void LogRpcFailed(ILogger logger, long chainId, string reason);

    private sealed record JsonRpcRequest(string Jsonrpc, int Id, string Method, object[] Params);

    private sealed record EthCall(string To, string Data);

    private sealed record JsonRpcResponse(string? Result, JsonRpcError? Error);

    private sealed record JsonRpcError(int Code, string? Message);

    private static class RpcJson
    {
        public static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    }
}

public sealed class ChainRpcException(string message) : Exception(message);
