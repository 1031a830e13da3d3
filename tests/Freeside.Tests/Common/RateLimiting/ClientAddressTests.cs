using System.Net;
using Freeside.Features.Common.RateLimiting;

namespace Freeside.Tests.Common.RateLimiting;

public sealed class ClientAddressTests
{
    private static readonly IReadOnlyList<IPNetwork> Proxies = [IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("fd00::/8")];

    private static string? Resolve(string remote, params string[] forwardedFor) =>
        ClientAddress.Resolve(IPAddress.Parse(remote), forwardedFor, Proxies)?.ToString();

    [Theory]
    [InlineData("203.0.113.9", "198.51.100.1", "203.0.113.9")]            // not a trusted proxy: the header is the client's word
    [InlineData("10.1.2.3", "198.51.100.1", "198.51.100.1")]              // our proxy saw 198.51.100.1
    [InlineData("10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1")]      // the client prepended a spoofed hop
    [InlineData("10.1.2.3", "198.51.100.1, 10.9.9.9", "198.51.100.1")]     // two trusted proxies in a row
    [InlineData("10.1.2.3", "10.8.8.8, 10.9.9.9", "10.8.8.8")]             // every hop trusted: the farthest
    [InlineData("10.1.2.3", "garbage, 198.51.100.1", "198.51.100.1")]
    [InlineData("10.1.2.3", "198.51.100.1, garbage", "10.1.2.3")]           // our proxy would not write that: stop at it
    [InlineData("10.1.2.3", "198.51.100.1:5555", "198.51.100.1")]
    [InlineData("::ffff:10.1.2.3", "198.51.100.1", "198.51.100.1")]       // IPv4-mapped connection address
    [InlineData("10.1.2.3", "[2001:db8::1]:443", "2001:db8::1")]
    public void Resolve_ForwardedFor_FirstUntrustedHopFromTheRight(string remote, string header, string expected) =>
        Resolve(remote, header).ShouldBe(expected);

    [Fact]
    public void Resolve_SeveralHeaderLines_ReadAsOneList() =>
        Resolve("10.1.2.3", "6.6.6.6", "198.51.100.7").ShouldBe("198.51.100.7");

    [Fact]
    public void Resolve_NoHeaderFromProxy_TheProxy() =>
        Resolve("10.1.2.3").ShouldBe("10.1.2.3");
}
