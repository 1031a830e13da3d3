using System.Buffers;

namespace Freeside.Features.Common.Ethereum;

internal static class Hex
{
    public static ReadOnlySpan<char> TrimPrefix(ReadOnlySpan<char> text) =>
        text.StartsWith("0x", StringComparison.Ordinal) || text.StartsWith("0X", StringComparison.Ordinal)
            ? text[2..]
            : text;

    /// <summary>Decodes exactly <c>destination.Length</c> bytes; an optional 0x prefix is allowed.</summary>
    public static bool TryDecodeExact(ReadOnlySpan<char> text, Span<byte> destination)
    {
        var digits = TrimPrefix(text);
        if (digits.Length != destination.Length * 2)
        {
            return false;
        }

        return Convert.FromHexString(digits, destination, out _, out var written) == OperationStatus.Done
            && written == destination.Length;
    }
}
