using System.Collections.Concurrent;
using System.Text.Json;

namespace Freeside.Tests.Common.Ethereum;

/// <summary>
/// The test vectors copied into this repository (tests/Freeside.Tests/Vectors, see its README for
/// provenance and licences), read from the copy the build puts beside the test binaries. A missing
/// folder or file throws, so a theory fails loudly instead of running fewer cases.
/// </summary>
internal static class Vectors
{
    private static readonly Lazy<string> Directory = new(Locate);
    private static readonly ConcurrentDictionary<string, JsonDocument> Documents = new();

    public static string Root => Directory.Value;

    public static JsonElement Load(string relativePath) =>
        Documents.GetOrAdd(relativePath, static path =>
            JsonDocument.Parse(File.ReadAllText(System.IO.Path.Combine(Root, path)))).RootElement;

    /// <summary>Case names of a JSON object keyed by name, as theory rows.</summary>
    public static TheoryData<string> Names(string relativePath)
    {
        var data = new TheoryData<string>();
        foreach (var property in Load(relativePath).EnumerateObject())
        {
            data.Add(property.Name);
        }

        return data;
    }

    public static JsonElement Case(string relativePath, string name) => Load(relativePath).GetProperty(name);

    public static string? OptionalString(this JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Locate()
    {
        var vectors = System.IO.Path.Combine(AppContext.BaseDirectory, "Vectors");
        return System.IO.Directory.Exists(vectors)
            ? vectors
            : throw new DirectoryNotFoundException(
                $"{vectors} does not exist: tests/Freeside.Tests/Vectors is copied there by the build.");
    }
}
