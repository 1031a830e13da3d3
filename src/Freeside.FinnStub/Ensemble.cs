using System.Globalization;

namespace Freeside.FinnStub;

/// <summary>
/// The ensemble claims (contracts/finn.md: ensemble_strategy, ensemble_n, ensemble_quorum), checked
/// strictly, and how an ensemble of the stand-in's deterministic calls turns out. All N calls use the
/// call's pool and give the same text; usage and cost_micro are summed over the calls that answered.
/// </summary>
public static class Ensemble
{
    private static readonly string[] Strategies = ["best_of_n", "consensus", "fallback"];

    public sealed record Claims(string Strategy, int N, int Quorum);

    /// <summary>How many of the calls answered (and were billed), and whether the ensemble has an answer to stream.</summary>
    public sealed record Outcome(int Succeeded, bool Answered, string? Failure);

    public static int MaxN(string tier) => tier switch
    {
        "pro" => 3,
        "enterprise" => 5,
        _ => 0,
    };

    public static bool TryRead(S2SClaims claims, out Claims? ensemble, out S2SFailure? failure)
    {
        ensemble = null;
        failure = null;
        var strategy = Claim(claims, "ensemble_strategy");
        var n = Claim(claims, "ensemble_n");
        var quorum = Claim(claims, "ensemble_quorum");
        if (strategy is null && n is null && quorum is null)
        {
            return true;
        }

        if (strategy is null || !Strategies.Contains(strategy))
        {
            failure = new S2SFailure(400, "INVALID_REQUEST", "ensemble_strategy must be best_of_n, consensus or fallback.");
            return false;
        }

        if (!int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var size) || size < 2)
        {
            failure = new S2SFailure(400, "INVALID_REQUEST", "ensemble_n must be a whole number of at least 2.");
            return false;
        }

        if (!int.TryParse(quorum, NumberStyles.None, CultureInfo.InvariantCulture, out var needed) || needed < 1 || needed > size)
        {
            failure = new S2SFailure(400, "INVALID_REQUEST", "ensemble_quorum must be a whole number from 1 to ensemble_n.");
            return false;
        }

        // Like the pools, the limit is re-derived from the tier; Freeside's clamping is not trusted.
        if (size > MaxN(claims.Tier))
        {
            failure = new S2SFailure(403, "POOL_ACCESS_DENIED", $"Tier '{claims.Tier}' may run ensembles of at most {MaxN(claims.Tier)} calls.");
            return false;
        }

        ensemble = new Claims(strategy, size, needed);
        return true;
    }

    /// <summary>
    /// Without an ensemble, one call that answers. The fault "ensemble-fail:&lt;i&gt;[,&lt;j&gt;…]" makes those
    /// calls (0-based) fail: best_of_n answers while one call does, consensus while a quorum does, fallback
    /// streams the first call that does.
    /// </summary>
    public static Outcome Run(Claims? ensemble, string fault)
    {
        if (ensemble is null)
        {
            return new Outcome(1, true, null);
        }

        var failing = fault.StartsWith("ensemble-fail:", StringComparison.Ordinal)
            ? fault["ensemble-fail:".Length..].Split(',').Select(i => int.Parse(i, CultureInfo.InvariantCulture)).Where(i => i >= 0 && i < ensemble.N).ToHashSet()
            : [];
        var good = ensemble.N - failing.Count;
        return ensemble.Strategy switch
        {
            "fallback" => good > 0
                ? new Outcome(1, true, null)
                : new Outcome(0, false, "Every call of the fallback ensemble failed (injected)."),
            "consensus" => good >= ensemble.Quorum
                ? new Outcome(good, true, null)
                : new Outcome(0, false, $"Only {good} of {ensemble.N} calls answered; the quorum is {ensemble.Quorum} (injected)."),
            _ => good > 0
                ? new Outcome(good, true, null)
                : new Outcome(0, false, "Every call of the ensemble failed (injected)."),
        };
    }

    private static string? Claim(S2SClaims claims, string name) =>
        claims.All.TryGetValue(name, out var value) && value is not null ? Convert.ToString(value, CultureInfo.InvariantCulture) : null;
}
