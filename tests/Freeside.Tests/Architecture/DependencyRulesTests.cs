using Freeside.Features.Common;

namespace Freeside.Tests.Architecture;

public sealed class DependencyRulesTests
{
    private static readonly Lazy<TypeReferenceGraph> Graph = new(() => TypeReferenceGraph.Read(typeof(FeatureRegistration).Assembly));

    private static string? Capability(string typeName) =>
        typeName.StartsWith("Freeside.Features.", StringComparison.Ordinal) ? typeName.Split('.')[2] : null;

    /// <summary>(capability, capability it uses, one example "type → type") for every cross-capability use.</summary>
    private static List<(string From, string To, string Example)> CapabilityUses() =>
        Graph.Value.Edges
            .SelectMany(edge => edge.Value.Select(used => (From: edge.Key, Used: used)))
            .Select(e => (e.From, e.Used, FromCapability: Capability(e.From), UsedCapability: Capability(e.Used)))
            .Where(e => e.FromCapability is not null && e.UsedCapability is not null && e.FromCapability != e.UsedCapability)
            .Select(e => (e.FromCapability!, e.UsedCapability!, $"{e.From} → {e.Used}"))
            .ToList();

    [Fact]
    public void Graph_SeesCallsFieldsSignaturesAndLambdas()
    {
        // Guards the rules below against going blind: uses known to exist must be found.
        var edges = Graph.Value.Edges;

        // A handler's constructor parameter and field.
        edges["Freeside.Features.Communities.CreateCommunity"].ShouldContain("Freeside.Features.Common.Persistence.FreesideDb");
        // A static call inside a route handler.
        edges["Freeside.Features.Ledger.LedgerEndpoints"].ShouldContain("Freeside.Features.Common.Errors.ResultHttpExtensions");
        // A call to another capability's type from a method body.
        CapabilityUses().ShouldContain(u => u.From == "Ledger" && u.To == "Identity");
    }

    [Fact]
    public void Common_UsesNoCapability()
    {
        var common = Graph.Value.Edges.Where(e => Capability(e.Key) == "Common").ToList();
        common.ShouldNotBeEmpty();
        common.SelectMany(e => e.Value).ShouldContain(used => Capability(used) == "Common");

        common
            .SelectMany(e => e.Value.Where(used => Capability(used) is { } c && c != "Common").Select(used => $"{e.Key} → {used}"))
            .ShouldBeEmpty();
    }

    [Fact]
    public void Capabilities_NoTwoDependOnEachOther()
    {
        var uses = CapabilityUses();
        uses.ShouldNotBeEmpty();

        var pairs = uses.Select(u => (u.From, u.To)).ToHashSet();
        uses.Where(u => string.CompareOrdinal(u.From, u.To) < 0 && pairs.Contains((u.To, u.From)))
            .Select(u => (u.From, u.To)).Distinct()
            .Select(p => $"{p.From} ⇄ {p.To}: {uses.First(u => u.From == p.From && u.To == p.To).Example}; "
                + uses.First(u => u.From == p.To && u.To == p.From).Example)
            .ShouldBeEmpty();
    }

    [Fact]
    public void Capabilities_DependencyGraphHasNoCycle()
    {
        var uses = CapabilityUses();
        uses.ShouldNotBeEmpty();
        var next = uses.GroupBy(u => u.From).ToDictionary(g => g.Key, g => g.Select(u => u.To).Distinct().ToList());

        var cycles = new List<string>();
        foreach (var start in next.Keys)
        {
            var path = new List<string> { start };
            Walk(start);

            void Walk(string at)
            {
                foreach (var to in next.GetValueOrDefault(at) ?? [])
                {
                    if (to == start)
                    {
                        cycles.Add(string.Join(" → ", path.Append(start)));
                    }
                    else if (!path.Contains(to))
                    {
                        path.Add(to);
                        Walk(to);
                        path.RemoveAt(path.Count - 1);
                    }
                }
            }
        }

        cycles.ShouldBeEmpty();
    }
}
