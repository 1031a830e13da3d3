using Freeside.Features.Communities;

namespace Freeside.Features.Inference;

/// <summary>finn's pools, their prices and which tier may use which (contracts/finn.md, "Pools").</summary>
public static class PoolCatalog
{
    /// <summary>Price in micro-USD per 1,000,000 tokens.</summary>
    public sealed record Pool(string Id, string Model, long InputPrice, long OutputPrice);

    public static readonly IReadOnlyDictionary<string, Pool> All = new Dictionary<string, Pool>(StringComparer.Ordinal)
    {
        ["cheap"] = new("cheap", "qwen-7b", 10_000, 10_000),
        ["fast-code"] = new("fast-code", "qwen-coder-7b", 10_000, 10_000),
        ["reviewer"] = new("reviewer", "gpt-4o", 2_500_000, 10_000_000),
        ["reasoning"] = new("reasoning", "o3", 10_000_000, 40_000_000),
        ["architect"] = new("architect", "claude-opus", 15_000_000, 75_000_000),
    };

    public static string Tier(AccessLevel level) => level switch
    {
        AccessLevel.Free => "free",
        AccessLevel.Pro => "pro",
        _ => "enterprise",
    };

    public static IReadOnlyList<string> AllowedFor(AccessLevel level) => level switch
    {
        AccessLevel.Free => ["cheap"],
        AccessLevel.Pro => ["cheap", "fast-code", "reviewer"],
        _ => ["cheap", "fast-code", "reviewer", "reasoning", "architect"],
    };

    /// <summary>Roughly four characters a token, at least one (the same rule finn's stand-in counts with).</summary>
    public static long EstimateTokens(long characters) => Math.Max(1, (characters + 3) / 4);

    /// <summary>
    /// The most a call may cost: every input token and <paramref name="maxTokens"/> output tokens at the
    /// dearest price among the pools it may land on, rounded up so the hold always covers finn's floor.
    /// </summary>
    public static long WorstCaseMicro(IEnumerable<string> pools, long promptTokens, long maxTokens)
    {
        var candidates = pools.Select(p => All[p]).ToList();
        var input = candidates.Max(p => p.InputPrice);
        var output = candidates.Max(p => p.OutputPrice);
        return CeilDiv(checked(promptTokens * input + maxTokens * output), 1_000_000);
    }

    /// <summary>What finn would bill for these tokens on this pool: floor, as in the contract.</summary>
    public static long CostMicro(string pool, long promptTokens, long completionTokens)
    {
        var p = All[pool];
        return checked(promptTokens * p.InputPrice + completionTokens * p.OutputPrice) / 1_000_000;
    }

    private static long CeilDiv(long value, long by) => (value + by - 1) / by;
}
