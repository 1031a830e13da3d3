using System.Text.Json;

namespace Freeside.Tests.Common.Ethereum;

/// <summary>
/// The vector theories take their rows from these files, so a truncated or missing copy would
/// quietly shrink them; pinning the counts makes that a failure.
/// </summary>
public class VectorsTests
{
    [Theory]
    [InlineData("keccak256.json", "items", 257)]
    [InlineData("keccak256.json", "extra", 1)]
    [InlineData("eip55_addresses.json", "cases", 19)]
    [InlineData("eip55_addresses.json", "private_key_to_address.items", 259)]
    [InlineData("siwe/parsing_positive.json", "", 19)]
    [InlineData("siwe/parsing_negative.json", "", 29)]
    [InlineData("siwe/parsing_negative_objects.json", "", 18)]
    [InlineData("siwe/verification_positive.json", "", 4)]
    [InlineData("siwe/verification_negative.json", "", 10)]
    public void Load_InRepositoryCopy_HoldsEveryCase(string file, string path, int expected)
    {
        var element = Vectors.Load(file);
        foreach (var property in path.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            element = element.GetProperty(property);
        }

        var count = element.ValueKind == JsonValueKind.Array ? element.GetArrayLength() : element.EnumerateObject().Count();

        count.ShouldBe(expected);
    }

    [Fact]
    public void Root_IsTheCopyBesideTheTestBinaries() =>
        Vectors.Root.ShouldStartWith(AppContext.BaseDirectory);
}
