namespace Freeside.Features.Communities;

internal static class CommunityRules
{
    public static bool IsAddress(string? value) =>
        value is { Length: 42 } && value.StartsWith("0x", StringComparison.Ordinal) && value.AsSpan(2).ContainsOnlyHex();

    private static bool ContainsOnlyHex(this ReadOnlySpan<char> span)
    {
        foreach (var c in span)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
