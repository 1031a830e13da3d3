using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;

namespace Freeside.Features.Common.RateLimiting;

/// <summary>
/// The client a request counts against: the connection's address, or, when that connection comes
/// from a trusted proxy (FREESIDE_TRUSTED_PROXIES), the first address in X-Forwarded-For that is not
/// a trusted proxy, reading from the right. Everything left of that hop was written by the client and
/// is ignored, so a client cannot pick its own key by sending the header.
/// IPv6 clients count per /64, the block one subscriber usually holds.
/// </summary>
public static class ClientAddress
{
    /// <summary>
    /// The rate-limit key of the request's client, or null when the connection has no IP address (an
    /// in-process test server, a Unix socket): such requests are not counted per IP, because one shared
    /// bucket for all of them would let one client lock out every other.
    /// </summary>
    public static string? KeyFor(HttpContext context, IReadOnlyList<IPNetwork> trustedProxies)
    {
        var address = Resolve(context.Connection.RemoteIpAddress, context.Request.Headers["X-Forwarded-For"], trustedProxies);
        return address is null ? null : Key(address);
    }

    public static IPAddress? Resolve(IPAddress? remote, IEnumerable<string?> forwardedFor, IReadOnlyList<IPNetwork> trustedProxies)
    {
        if (remote is null)
        {
            return null;
        }

        remote = Normalize(remote);
        if (!IsTrusted(remote, trustedProxies))
        {
            return remote;
        }

        var hops = forwardedFor.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
        var client = remote;
        for (var i = hops.Count - 1; i >= 0; i--)
        {
            if (ParseHop(hops[i]) is not { } hop)
            {
                // A hop our own proxy would not write: stop at the last address we can vouch for.
                return client;
            }

            client = hop;
            if (!IsTrusted(hop, trustedProxies))
            {
                return hop;
            }
        }

        return client;
    }

    private static bool IsTrusted(IPAddress address, IReadOnlyList<IPNetwork> trustedProxies)
    {
        foreach (var network in trustedProxies)
        {
            if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private static IPAddress? ParseHop(string hop)
    {
        // "1.2.3.4", "1.2.3.4:5678", "2001:db8::1", "[2001:db8::1]:443"
        if (IPAddress.TryParse(hop, out var address))
        {
            return Normalize(address);
        }

        return IPEndPoint.TryParse(hop, out var endpoint) ? Normalize(endpoint.Address) : null;
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static string Key(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }
}
