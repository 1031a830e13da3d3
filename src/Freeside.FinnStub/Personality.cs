using System.Security.Cryptography;
using System.Text;

namespace Freeside.FinnStub;

/// <summary>A deterministic personality per nft_id, with the contract's affinity table.</summary>
public sealed record Personality(string Id, string Archetype, string Element, string DisplayName, IReadOnlyDictionary<string, double> Emphasis)
{
    private static readonly string[] Archetypes = ["freetekno", "milady", "chicago_detroit", "acidhouse"];
    private static readonly string[] Elements = ["fire", "water", "earth", "air"];
    private static readonly string[] Names = ["Vela", "Orrin", "Sable", "Quill", "Juno", "Marlo", "Tesk", "Wren"];

    private static readonly IReadOnlyDictionary<string, double[]> Affinity = new Dictionary<string, double[]>(StringComparer.Ordinal)
    {
        // cheap, fast-code, reviewer, reasoning, architect
        ["freetekno"] = [.3, .4, .5, .7, .9],
        ["milady"] = [.7, .3, .5, .4, .8],
        ["chicago_detroit"] = [.4, .8, .6, .7, .5],
        ["acidhouse"] = [.3, .5, .7, .6, .8],
    };

    private static readonly string[] PoolOrder = ["cheap", "fast-code", "reviewer", "reasoning", "architect"];

    public static Personality For(string nftId)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(nftId));
        var archetype = Archetypes[hash[0] % Archetypes.Length];
        var element = Elements[hash[1] % Elements.Length];
        var name = Names[hash[2] % Names.Length] + " of " + char.ToUpperInvariant(element[0]) + element[1..];
        var emphasis = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["curiosity"] = Math.Round(hash[3] / 255.0, 2),
            ["warmth"] = Math.Round(hash[4] / 255.0, 2),
            ["precision"] = Math.Round(hash[5] / 255.0, 2),
        };
        return new Personality("pers_" + Convert.ToHexStringLower(hash.AsSpan(8, 8)), archetype, element, name, emphasis);
    }

    /// <summary>The allowed pools by this personality's affinity, highest first; ties by pool id.</summary>
    public string PickPool(IReadOnlyList<string> allowed)
    {
        var affinity = Affinity[Archetype];
        return allowed
            .OrderByDescending(pool => affinity[Array.IndexOf(PoolOrder, pool)])
            .ThenBy(pool => pool, StringComparer.Ordinal)
            .First();
    }

    /// <summary>What users may see: no archetype, no internal identity labels.</summary>
    public object PublicView() => new
    {
        personality_id = Id,
        display_name = DisplayName,
        element = Element,
        summary = $"{DisplayName} answers with a {Element} temperament.",
        emphasis = Emphasis,
    };
}
