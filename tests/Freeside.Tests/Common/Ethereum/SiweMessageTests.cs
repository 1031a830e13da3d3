using System.Text.Json;
using Freeside.Features.Common.Ethereum;

namespace Freeside.Tests.Common.Ethereum;

public class SiweMessageTests
{
    private const string Positive = "siwe/parsing_positive.json";
    private const string Negative = "siwe/parsing_negative.json";
    private const string NegativeObjects = "siwe/parsing_negative_objects.json";

    private const string Valid =
        "example.com wants you to sign in with your Ethereum account:\n" +
        "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n" +
        "\n" +
        "Sign in to Freeside.\n" +
        "\n" +
        "URI: https://example.com/login\n" +
        "Version: 1\n" +
        "Chain ID: 1\n" +
        "Nonce: abcdEFGH1234\n" +
        "Issued At: 2024-05-01T10:00:00.000Z";

    public static TheoryData<string> PositiveNames() => Vectors.Names(Positive);

    public static TheoryData<string> NegativeNames() => Vectors.Names(Negative);

    public static TheoryData<string> NegativeObjectNames()
    {
        // chainId "?" cannot be expressed: SiweMessageFields.ChainId is a long, so the type system refuses it.
        var data = new TheoryData<string>();
        foreach (var property in Vectors.Load(NegativeObjects).EnumerateObject())
        {
            if (!property.Value.TryGetProperty("chainId", out var chainId) || chainId.ValueKind == JsonValueKind.Number)
            {
                data.Add(property.Name);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(PositiveNames))]
    public void TryParse_PositiveVector_ParsesExpectedFields(string name)
    {
        var item = Vectors.Case(Positive, name);
        var fields = item.GetProperty("fields");

        SiweMessage.TryParse(item.GetProperty("message").GetString(), out var message, out var error).ShouldBeTrue(error);

        message.Scheme.ShouldBe(fields.OptionalString("scheme"));
        message.Domain.ShouldBe(fields.GetProperty("domain").GetString());
        message.Address.ShouldBe(fields.GetProperty("address").GetString());
        message.ParsedAddress.ToString().ShouldBe(fields.GetProperty("address").GetString());
        message.Statement.ShouldBe(fields.OptionalString("statement"));
        message.Uri.ShouldBe(fields.GetProperty("uri").GetString());
        message.Version.ShouldBe(fields.GetProperty("version").GetString());
        message.ChainId.ShouldBe(fields.GetProperty("chainId").GetInt64());
        message.Nonce.ShouldBe(fields.GetProperty("nonce").GetString());
        message.IssuedAt.ShouldBe(DateTimeOffset.Parse(fields.GetProperty("issuedAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        message.ExpirationTime.ShouldBe(OptionalTime(fields, "expirationTime"));
        message.NotBefore.ShouldBe(OptionalTime(fields, "notBefore"));
        message.RequestId.ShouldBe(fields.OptionalString("requestId"));
        message.Resources.ShouldBe(fields.TryGetProperty("resources", out var resources)
            ? resources.EnumerateArray().Select(r => r.GetString()!).ToArray()
            : []);
        message.Text.ShouldBe(item.GetProperty("message").GetString());
    }

    [Theory]
    [MemberData(nameof(PositiveNames))]
    public void TryCreate_PositiveVectorFields_ReproducesTheMessageText(string name)
    {
        var item = Vectors.Case(Positive, name);

        SiweMessage.TryCreate(Fields(item.GetProperty("fields")), out var message, out var error).ShouldBeTrue(error);

        message.Text.ShouldBe(item.GetProperty("message").GetString());
    }

    [Theory]
    [MemberData(nameof(NegativeNames))]
    public void TryParse_NegativeVector_Refused(string name)
    {
        var text = Vectors.Case(Negative, name).GetString();

        SiweMessage.TryParse(text, out var message, out var error).ShouldBeFalse();

        message.ShouldBeNull();
        error.ShouldNotBeNullOrWhiteSpace();
    }

    [Theory]
    [MemberData(nameof(NegativeObjectNames))]
    public void TryCreate_NegativeObjectVector_Refused(string name)
    {
        var fields = Fields(Vectors.Case(NegativeObjects, name));

        SiweMessage.TryCreate(fields, out var message, out var error).ShouldBeFalse();

        message.ShouldBeNull();
        error.ShouldNotBeNullOrWhiteSpace();
    }

    [Fact]
    public void TryParse_AllOptionalFields_ParsesEach()
    {
        var text = Valid +
            "\nExpiration Time: 2024-05-01T10:10:00Z" +
            "\nNot Before: 2024-05-01T09:59:00+02:00" +
            "\nRequest ID: req-1:a@b" +
            "\nResources:\n- https://example.com/a\n- urn:example:b";

        SiweMessage.TryParse(text, out var message, out var error).ShouldBeTrue(error);

        message.ExpirationTime.ShouldBe(new DateTimeOffset(2024, 5, 1, 10, 10, 0, TimeSpan.Zero));
        message.NotBefore.ShouldBe(new DateTimeOffset(2024, 5, 1, 7, 59, 0, TimeSpan.Zero));
        message.RequestId.ShouldBe("req-1:a@b");
        message.Resources.ShouldBe(["https://example.com/a", "urn:example:b"]);
    }

    [Fact]
    public void TryParse_EmptyStatementLine_KeepsAnEmptyStatement()
    {
        var text = Valid.Replace("Sign in to Freeside.\n", "\n", StringComparison.Ordinal);

        SiweMessage.TryParse(text, out var message, out var error).ShouldBeTrue(error);

        message.Statement.ShouldBe("");
    }

    [Theory]
    [InlineData("Request ID: ", "")]
    [InlineData("Resources:", null)]
    public void TryParse_EmptyOptionalValues_AllowedByTheGrammar(string line, string? requestId)
    {
        SiweMessage.TryParse(Valid + "\n" + line, out var message, out var error).ShouldBeTrue(error);

        message.RequestId.ShouldBe(requestId);
        message.Resources.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("trailing newline", Valid + "\n")]
    [InlineData("CRLF line ends", "CRLF")]
    [InlineData("garbage after Issued At", Valid + "\nhello")]
    [InlineData("unknown field", Valid + "\nColor: blue")]
    [InlineData("repeated Expiration Time", Valid + "\nExpiration Time: 2024-05-01T10:10:00Z\nExpiration Time: 2024-05-01T10:10:00Z")]
    [InlineData("resource without dash", Valid + "\nResources:\nhttps://example.com/a")]
    [InlineData("field after resources", Valid + "\nResources:\n- https://example.com/a\nRequest ID: x")]
    [InlineData("label without space", "URI:https://example.com/login")]
    [InlineData("lowercase label", "uri: https://example.com/login")]
    [InlineData("leading space on header", " " + Valid)]
    [InlineData("version 1.0", "Version: 1.0")]
    [InlineData("chain id with sign", "Chain ID: +1")]
    [InlineData("chain id overflow", "Chain ID: 9223372036854775808")]
    [InlineData("nonce with symbol", "Nonce: abcdEFGH-234")]
    [InlineData("statement with percent", "Sign in to 100% Freeside.")]
    [InlineData("statement not ASCII", "Sign in to Freesidé.")]
    [InlineData("statement with tab", "Sign in\tto Freeside.")]
    [InlineData("leap second", "Issued At: 2016-12-31T23:59:60Z")]
    [InlineData("hour 24", "Issued At: 2024-05-01T24:00:00Z")]
    [InlineData("no offset", "Issued At: 2024-05-01T10:00:00")]
    [InlineData("space separator", "Issued At: 2024-05-01 10:00:00Z")]
    [InlineData("empty fraction", "Issued At: 2024-05-01T10:00:00.Z")]
    [InlineData("offset without colon", "Issued At: 2024-05-01T10:00:00+0200")]
    [InlineData("year zero", "Issued At: 0000-05-01T10:00:00Z")]
    [InlineData("29 February of a common year", "Issued At: 2023-02-29T10:00:00Z")]
    [InlineData("domain with path", "example.com/x wants you to sign in with your Ethereum account:")]
    [InlineData("domain with space", "exa mple.com wants you to sign in with your Ethereum account:")]
    [InlineData("scheme starting with digit", "1http://example.com wants you to sign in with your Ethereum account:")]
    [InlineData("bad IPv6", "[::1::2] wants you to sign in with your Ethereum account:")]
    [InlineData("bad port", "example.com:80a wants you to sign in with your Ethereum account:")]
    [InlineData("uri without scheme", "URI: //example.com/login")]
    [InlineData("uri with space", "URI: https://example.com/log in")]
    [InlineData("uri with bad percent escape", "URI: https://example.com/%zz")]
    [InlineData("address without 0x", "C02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2")]
    [InlineData("address all uppercase, not the checksum", "0xC02AAA39B223FE8D0A0E5C4F27EAD9083C756CC2")]
    public void TryParse_MalformedInput_Refused(string reason, string replacementOrMessage)
    {
        var text = Mutate(replacementOrMessage);

        SiweMessage.TryParse(text, out _, out var error).ShouldBeFalse(reason);

        error.ShouldNotBeNullOrWhiteSpace();
    }

    [Fact]
    public void TryParse_Oversize_RefusedBeforeParsing()
    {
        var text = Valid + "\nResources:" + string.Concat(Enumerable.Repeat("\n- https://example.com/r", 1000));

        SiweMessage.TryParse(text, out _, out var error).ShouldBeFalse();

        error.ShouldContain(SiweMessage.MaxLength.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("\n\n\n\n\n\n\n\n\n")]
    public void TryParse_EmptyOrBlank_Refused(string? text) =>
        SiweMessage.TryParse(text, out _, out _).ShouldBeFalse();

    [Fact]
    public void TryParse_EveryTruncationOfTheRequiredPart_Refused()
    {
        var accepted = Enumerable.Range(0, Valid.Length)
            .Where(length => SiweMessage.TryParse(Valid[..length], out _, out _))
            .ToList();

        accepted.ShouldBeEmpty();
        SiweMessage.TryParse(Valid, out _, out _).ShouldBeTrue();
    }

    [Theory]
    [InlineData("Issued At: 2024-05-01t10:00:00z")]
    [InlineData("Issued At: 2024-05-01T10:00:00.123456789Z")]
    [InlineData("Issued At: 2024-05-01T10:00:00-23:59")]
    [InlineData("Issued At: 2024-02-29T10:00:00Z")]
    public void TryParse_UnusualButValidTimestamp_Accepted(string line) =>
        SiweMessage.TryParse(Mutate(line), out _, out var error).ShouldBeTrue(error);

    [Theory]
    [InlineData("[2001:db8::7] wants you to sign in with your Ethereum account:")]
    [InlineData("[::ffff:192.0.2.1]:443 wants you to sign in with your Ethereum account:")]
    [InlineData("[v7.fe80::1] wants you to sign in with your Ethereum account:")]
    [InlineData("user:pass@example.com:8443 wants you to sign in with your Ethereum account:")]
    [InlineData("xn--bcher-kva.example wants you to sign in with your Ethereum account:")]
    [InlineData("chrome-extension://abcdef wants you to sign in with your Ethereum account:")]
    public void TryParse_UnusualButValidDomain_Accepted(string line) =>
        SiweMessage.TryParse(Mutate(line), out _, out var error).ShouldBeTrue(error);

    [Fact]
    public void TryParse_LowercaseAddress_ReportsChecksum()
    {
        var text = Valid.Replace("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2", StringComparison.Ordinal);

        SiweMessage.TryParse(text, out _, out var error).ShouldBeFalse();

        error.ShouldContain("EIP-55");
    }

    [Fact]
    public void TryCreate_DomainThatLooksLikeSchemeAndDomain_Refused()
    {
        var fields = ValidFields() with { Domain = "https://example.com" };

        SiweMessage.TryCreate(fields, out _, out _).ShouldBeFalse();
    }

    [Theory]
    [InlineData("statement")]
    [InlineData("requestId")]
    [InlineData("resource")]
    public void TryCreate_FieldWithLineBreak_RefusedInsteadOfInjectingLines(string field)
    {
        var fields = field switch
        {
            "statement" => ValidFields() with { Statement = "hi\n\nURI: https://evil.example" },
            "requestId" => ValidFields() with { RequestId = "x\nResources:" },
            _ => ValidFields() with { Resources = ["https://example.com/a\n- https://evil.example"] },
        };

        SiweMessage.TryCreate(fields, out _, out var error).ShouldBeFalse();

        error.ShouldContain("line break");
    }

    [Fact]
    public void TryCreate_ValidFields_ParsesBackToTheSameFields()
    {
        var fields = ValidFields() with
        {
            Scheme = "https",
            ExpirationTime = SiweMessage.FormatTimestamp(new DateTimeOffset(2024, 5, 1, 10, 10, 0, TimeSpan.Zero)),
            RequestId = "42",
            Resources = ["https://example.com/a"],
        };

        SiweMessage.TryCreate(fields, out var created, out var error).ShouldBeTrue(error);
        SiweMessage.TryParse(created.Text, out var parsed, out error).ShouldBeTrue(error);

        parsed.Scheme.ShouldBe("https");
        parsed.Domain.ShouldBe("example.com");
        parsed.ExpirationTime.ShouldBe(new DateTimeOffset(2024, 5, 1, 10, 10, 0, TimeSpan.Zero));
        parsed.RequestId.ShouldBe("42");
        parsed.Resources.ShouldBe(["https://example.com/a"]);
        created.Text.ShouldStartWith("https://example.com wants you");
        created.ToString().ShouldBe(created.Text);
    }

    [Fact]
    public void FormatTimestamp_AnyOffset_WritesUtcWithMilliseconds() =>
        SiweMessage.FormatTimestamp(new DateTimeOffset(2024, 5, 1, 12, 0, 0, 5, TimeSpan.FromHours(2)))
            .ShouldBe("2024-05-01T10:00:00.005Z");

    internal static SiweMessageFields Fields(JsonElement json) => new()
    {
        Scheme = json.OptionalString("scheme"),
        Domain = json.OptionalString("domain"),
        Address = json.OptionalString("address"),
        Statement = json.OptionalString("statement"),
        Uri = json.OptionalString("uri"),
        Version = json.OptionalString("version"),
        ChainId = json.TryGetProperty("chainId", out var chainId) ? chainId.GetInt64() : null,
        Nonce = json.OptionalString("nonce"),
        IssuedAt = json.OptionalString("issuedAt"),
        ExpirationTime = json.OptionalString("expirationTime"),
        NotBefore = json.OptionalString("notBefore"),
        RequestId = json.OptionalString("requestId"),
        Resources = json.TryGetProperty("resources", out var resources)
            ? resources.EnumerateArray().Select(r => r.GetString()!).ToArray()
            : null,
    };

    private static SiweMessageFields ValidFields() => new()
    {
        Domain = "example.com",
        Address = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        Statement = "Sign in to Freeside.",
        Uri = "https://example.com/login",
        Version = "1",
        ChainId = 1,
        Nonce = "abcdEFGH1234",
        IssuedAt = "2024-05-01T10:00:00.000Z",
    };

    private static DateTimeOffset? OptionalTime(JsonElement fields, string property) =>
        fields.OptionalString(property) is { } text
            ? DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture)
            : null;

    // A whole message is used as is; a single line replaces the line of Valid with the same label.
    private static string Mutate(string replacementOrMessage)
    {
        if (replacementOrMessage == "CRLF")
        {
            return Valid.Replace("\n", "\r\n", StringComparison.Ordinal);
        }

        if (replacementOrMessage.Contains('\n') || replacementOrMessage.StartsWith(Valid, StringComparison.Ordinal) || replacementOrMessage.EndsWith(Valid, StringComparison.Ordinal))
        {
            return replacementOrMessage;
        }

        var lines = Valid.Split('\n');
        var index = replacementOrMessage switch
        {
            _ when replacementOrMessage.Contains(" wants you to sign in", StringComparison.Ordinal) => 0,
            _ when replacementOrMessage.StartsWith("0x", StringComparison.Ordinal) || replacementOrMessage.Length == 40 => 1,
            _ when replacementOrMessage.StartsWith("Sign in", StringComparison.Ordinal) => 3,
            _ when replacementOrMessage.StartsWith("URI", StringComparison.OrdinalIgnoreCase) => 5,
            _ when replacementOrMessage.StartsWith("Version", StringComparison.Ordinal) => 6,
            _ when replacementOrMessage.StartsWith("Chain ID", StringComparison.Ordinal) => 7,
            _ when replacementOrMessage.StartsWith("Nonce", StringComparison.Ordinal) => 8,
            _ when replacementOrMessage.StartsWith("Issued At", StringComparison.Ordinal) => 9,
            _ => throw new ArgumentException($"No line to replace with \"{replacementOrMessage}\"."),
        };
        lines[index] = replacementOrMessage;
        return string.Join('\n', lines);
    }
}
