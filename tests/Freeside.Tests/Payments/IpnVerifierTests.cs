using System.Security.Cryptography;
using System.Text;
using Freeside.Features.Payments;

namespace Freeside.Tests.Payments;

/// <summary>
/// Expected signatures come from outside the code under test: the node vector was computed with
/// <c>crypto.createHmac('sha512', secret).update(JSON.stringify(sortDeep(JSON.parse(body))))</c>
/// (sortDeep re-creates every object with <c>Object.keys(o).sort()</c>), the others over canonical
/// strings written here by hand.
/// </summary>
public sealed class IpnVerifierTests
{
    private const string Secret = "test-ipn-secret-0123456789abcdef";

    private const string NodeBody =
        """{"payment_status":"finished","payment_id":5077125051,"order_id":"o-1","invoice_id":4522625843,"fee":{"withdrawalFee":0,"currency":"btc","depositFee":0.5},"Zeta":[{"b":1,"a":"x\u0001y\"q\\/"}],"note":"grüße 💸 \u2028 \ud800 tab\tnl\n","actually_paid":1e-7,"pay_currency":"btc","b":null,"a":true}""";

    private const string NodeCanonicalSignature =
        "f30bbd930094d001c8ed0ebbb26de134a923b5f15af2eb2895447e481f93f198bea215c4aab12c0c6de495f2c3a7b72f92b0384b2db31d9b1630301f943b9bf5";

    private const string NodeRawSignature =
        "372adb485d939dd93ab7ef3b6c9d96907bea1957bbd0c79a9d73353e653e919bfa664d4ab27b1c31e2eb580effb71a641f5be62aee2bddbc95338e113fdbc6e7";

    private static readonly IpnVerifier Verifier = new(Secret);

    private static string Hmac(string text, string secret = Secret) =>
        Convert.ToHexStringLower(HMACSHA512.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(text)));

    [Fact]
    public void Verify_NodeSortedStringifySignature_Accepts()
    {
        Verifier.Verify(Encoding.UTF8.GetBytes(NodeBody), NodeCanonicalSignature).ShouldBeTrue();
    }

    [Fact]
    public void Verify_RawBodySignature_Accepts()
    {
        Verifier.Verify(Encoding.UTF8.GetBytes(NodeBody), NodeRawSignature).ShouldBeTrue();
        Verifier.Verify(Encoding.UTF8.GetBytes(NodeBody), NodeRawSignature.ToUpperInvariant()).ShouldBeTrue();
    }

    [Fact]
    public void Verify_NumbersAreSignedAsReceived_NotReformatted()
    {
        // A double would write 0.1, 1 and 12345678901234567000; the literals must survive.
        const string body = """{ "price_amount" : 0.10, "b": 1.0, "a": 12345678901234567890, "c": -0e5 }""";
        const string canonical = """{"a":12345678901234567890,"b":1.0,"c":-0e5,"price_amount":0.10}""";

        Verifier.Verify(Encoding.UTF8.GetBytes(body), Hmac(canonical)).ShouldBeTrue();
        Verifier.Verify(Encoding.UTF8.GetBytes(body), Hmac("""{"a":12345678901234567000,"b":1,"c":0,"price_amount":0.1}""")).ShouldBeFalse();
    }

    [Fact]
    public void Verify_KeysSortByUtf16CodeUnits_AndDuplicatesKeepTheLast()
    {
        const string body = """{"b":1,"B":2,"é":3,"a":{"y":1,"x":[{"d":1,"c":2}]},"b":4}""";
        const string canonical = """{"B":2,"a":{"x":[{"c":2,"d":1}],"y":1},"b":4,"é":3}""";

        Verifier.Verify(Encoding.UTF8.GetBytes(body), Hmac(canonical)).ShouldBeTrue();
    }

    [Fact]
    public void Verify_EscapedNonAsciiIsWrittenAsIs_LikeJsonStringify()
    {
        const string body = """{"s":"\u00fc\u20ac\/"}""";
        const string canonical = "{\"s\":\"ü€/\"}";

        Verifier.Verify(Encoding.UTF8.GetBytes(body), Hmac(canonical)).ShouldBeTrue();
    }

    [Theory]
    [InlineData("")]
    [InlineData("zz")]
    [InlineData(null)]
    public void Verify_MissingOrNotHex_Refuses(string? signature)
    {
        Verifier.Verify(Encoding.UTF8.GetBytes(NodeBody), signature).ShouldBeFalse();
    }

    [Fact]
    public void Verify_TruncatedTamperedOrOtherSecret_Refuses()
    {
        var body = Encoding.UTF8.GetBytes(NodeBody);

        Verifier.Verify(body, NodeRawSignature[..^2]).ShouldBeFalse();
        Verifier.Verify(body, NodeRawSignature[..64]).ShouldBeFalse();
        Verifier.Verify(Encoding.UTF8.GetBytes(NodeBody.Replace("finished", "finishes", StringComparison.Ordinal)), NodeRawSignature).ShouldBeFalse();
        Verifier.Verify(body, Hmac(NodeBody, "another-secret-0123456789abcdef")).ShouldBeFalse();
        new IpnVerifier(null).Verify(body, NodeRawSignature).ShouldBeFalse();
    }

    [Fact]
    public void Verify_NotJson_AcceptsOnlyTheRawSignature()
    {
        var body = Encoding.UTF8.GetBytes("not json {");

        Verifier.Verify(body, Hmac("not json {")).ShouldBeTrue();
        Verifier.Verify(body, Hmac("not json")).ShouldBeFalse();
    }
}
