namespace Freeside.FinnStub;

/// <summary>Pools, tiers and prices exactly as the contract table states them.</summary>
public static class Pools
{
    public sealed record Pool(string Id, string Model, long InputMicroPerMillion, long OutputMicroPerMillion);

    public static readonly IReadOnlyDictionary<string, Pool> All = new Dictionary<string, Pool>(StringComparer.Ordinal)
    {
        ["cheap"] = new("cheap", "qwen-7b", 10_000, 10_000),
        ["fast-code"] = new("fast-code", "qwen-coder-7b", 10_000, 10_000),
        ["reviewer"] = new("reviewer", "gpt-4o", 2_500_000, 10_000_000),
        ["reasoning"] = new("reasoning", "o3", 10_000_000, 40_000_000),
        ["architect"] = new("architect", "claude-opus", 15_000_000, 75_000_000),
    };

    /// <summary>Re-derived from the tier claim; the caller's allowed_pools is never trusted.</summary>
    public static IReadOnlyList<string>? AllowedFor(string? tier) => tier switch
    {
        "free" => ["cheap"],
        "pro" => ["cheap", "fast-code", "reviewer"],
        "enterprise" => ["cheap", "fast-code", "reviewer", "reasoning", "architect"],
        _ => null,
    };

    public static long Cost(Pool pool, long promptTokens, long completionTokens) =>
        checked((promptTokens * pool.InputMicroPerMillion) + (completionTokens * pool.OutputMicroPerMillion)) / 1_000_000;
}
