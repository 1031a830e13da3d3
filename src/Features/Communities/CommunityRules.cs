using Freeside.Features.Common.Ethereum;

namespace Freeside.Features.Communities;

internal static class CommunityRules
{
    /// <summary>0x + 40 hex; all-lower or all-upper is accepted as written, mixed case must be EIP-55.</summary>
    public static bool IsAddress(string? value) =>
        value is not null && EthereumAddress.TryParse(value, AddressChecksumPolicy.IfMixedCase, out _, out _);
}
