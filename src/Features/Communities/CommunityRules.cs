using Freeside.Features.Common.Ethereum;

namespace Freeside.Features.Communities;

internal static class CommunityRules
{
    public const string AddressRule =
        "must be a 0x-prefixed 20-byte hex address with a valid EIP-55 checksum when mixed-case, and not the zero address.";

    /// <summary>
    /// 0x + 40 hex; all-lower or all-upper is accepted as written, mixed case must be EIP-55. The zero
    /// address is refused: nobody holds its key, so as an admin or a collection it is always a mistake.
    /// </summary>
    public static bool IsAddress(string? value) =>
        value is not null && EthereumAddress.TryParse(value, AddressChecksumPolicy.IfMixedCase, out var address, out _)
        && address.ToArray().AsSpan().ContainsAnyExcept((byte)0);
}
