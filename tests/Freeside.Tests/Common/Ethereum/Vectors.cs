using System.Collections.Concurrent;
using System.Text.Json;

namespace Freeside.Tests.Common.Ethereum;

/// <summary>
/// Read-only shared test vectors, read in place. Found through FREESIDE_SHARED_DIR, or by walking
/// up from the test binaries to the first folder with a shared/vectors child: the checkout at
/// /work/main has /work/shared beside it, and CI clones with shared/ beside the clone.
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
        var fromEnvironment = Environment.GetEnvironmentVariable("FREESIDE_SHARED_DIR");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            var vectors = System.IO.Path.Combine(fromEnvironment, "vectors");
            return System.IO.Directory.Exists(vectors)
                ? vectors
                : throw new DirectoryNotFoundException($"FREESIDE_SHARED_DIR is set but {vectors} does not exist.");
        }

        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var vectors = System.IO.Path.Combine(directory.FullName, "shared", "vectors");
            if (System.IO.Directory.Exists(vectors))
            {
                return vectors;
            }
        }

        throw new DirectoryNotFoundException(
            $"No shared/vectors above {AppContext.BaseDirectory}; set FREESIDE_SHARED_DIR to the shared folder.");
    }
}
