using Freeside.Features.Common.Errors;
using Freeside.Features.Communities;
using Freeside.Features.Identity.S2S;

namespace Freeside.Features.Inference;

/// <summary>
/// Ensembles (seed 003 sprint 2): one chat answered by N calls of finn's — <c>best_of_n</c> and
/// <c>consensus</c> run all N, <c>fallback</c> tries them in turn. Freeside gates and sizes them
/// (ENSEMBLE_ENABLED, tier, N) and holds N worst cases; finn runs them and reports what they cost.
/// </summary>
public static class Ensembles
{
    public static readonly IReadOnlyList<string> Strategies = ["best_of_n", "consensus", "fallback"];

    /// <summary>The largest N a request may name; anything above its tier's maximum is clamped down to it.</summary>
    public const int MaxRequestedN = 100;

    /// <summary>What the caller asked for; N and the quorum are clamped to the tier.</summary>
    public sealed record Request(string? Strategy, int? N = null, int? Quorum = null);

    public static int MaxN(AccessLevel level) => level switch
    {
        AccessLevel.Free => 0,
        AccessLevel.Pro => 3,
        _ => 5,
    };

    /// <summary>
    /// The ensemble finn is told to run: free (or ENSEMBLE_ENABLED off) is refused; N defaults to and is
    /// clamped at the tier's maximum; a consensus quorum defaults to a majority and never exceeds N; the
    /// other strategies need one good answer.
    /// </summary>
    public static Result<S2SEnsemble> Plan(Request request, AccessLevel level, bool enabled)
    {
        if (!enabled)
        {
            return new EnsembleNotAvailable("Ensembles are switched off on this Freeside (ENSEMBLE_ENABLED=false); nothing was reserved.");
        }

        var max = MaxN(level);
        if (max == 0)
        {
            return new EnsembleNotAvailable($"Tier '{PoolCatalog.Tier(level)}' may not use ensembles; nothing was reserved.");
        }

        var n = Math.Min(request.N ?? max, max);
        var quorum = request.Strategy == "consensus" ? Math.Min(request.Quorum ?? (n / 2) + 1, n) : 1;
        return new S2SEnsemble(request.Strategy!, n, quorum);
    }

    /// <summary>
    /// How many calls' worth of delivered text a partial ensemble is charged: best_of_n and consensus ran
    /// all N side by side, so each consumed about what reached the caller; fallback streams one call, and
    /// the ones that failed before it cost nothing (seed 003: committed = the successful calls' cost).
    /// </summary>
    public static int ObservedCalls(S2SEnsemble? ensemble) => ensemble is null || ensemble.Strategy == "fallback" ? 1 : ensemble.N;
}
