using System.Text.Json;
using Freeside.Features.Common.Ethereum;

namespace Freeside.Tests.Common.Ethereum;

public class SiweVerifierTests
{
    private const string Positive = "siwe/verification_positive.json";
    private const string Negative = "siwe/verification_negative.json";

    private static readonly byte[] Key = Convert.FromHexString("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
    private static readonly DateTimeOffset Issued = new(2024, 5, 1, 10, 0, 0, TimeSpan.Zero);

    // What each reference negative case is about; a new vector without an entry still has to be refused.
    private static readonly Dictionary<string, SiweFailure> NegativeExpectations = new()
    {
        ["expired message"] = SiweFailure.Expired,
        ["domain binding"] = SiweFailure.DomainMismatch,
        ["custom time"] = SiweFailure.Expired,
        ["custom nonce"] = SiweFailure.NonceMismatch,
        ["malformed signature"] = SiweFailure.MalformedSignature,
        ["wrong signature"] = SiweFailure.SignatureMismatch,
        ["not yet valid"] = SiweFailure.NotYetValid,
        ["invalid issuedAt"] = SiweFailure.MalformedMessage,
        ["invalid notBefore"] = SiweFailure.MalformedMessage,
        ["invalid expirationTime"] = SiweFailure.MalformedMessage,
    };

    public static TheoryData<string> PositiveNames() => Vectors.Names(Positive);

    public static TheoryData<string> NegativeNames() => Vectors.Names(Negative);

    [Theory]
    [MemberData(nameof(PositiveNames))]
    public void Verify_PositiveVector_Valid(string name)
    {
        var item = Vectors.Case(Positive, name);
        SiweMessage.TryCreate(SiweMessageTests.Fields(item), out var message, out var error).ShouldBeTrue(error);

        var result = SiweVerifier.Verify(message, item.GetProperty("signature").GetString()!, ReferenceContext(item));

        result.Failure.ShouldBe(SiweFailure.None, result.Detail);
        result.IsValid.ShouldBeTrue();
        result.Address.ToString().ShouldBe(item.GetProperty("address").GetString());
    }

    [Theory]
    [MemberData(nameof(NegativeNames))]
    public void Verify_NegativeVector_Refused(string name)
    {
        var item = Vectors.Case(Negative, name);
        var signature = item.GetProperty("signature").GetString()!;

        var result = SiweMessage.TryCreate(SiweMessageTests.Fields(item), out var message, out var error)
            ? SiweVerifier.Verify(message, signature, ReferenceContext(item))
            : SiweVerificationResult.Fail(SiweFailure.MalformedMessage, error);

        result.IsValid.ShouldBeFalse();
        if (NegativeExpectations.TryGetValue(name, out var expected))
        {
            result.Failure.ShouldBe(expected, result.Detail);
        }
    }

    [Theory]
    [MemberData(nameof(PositiveNames))]
    public void Verify_HighSTwinOfPositiveVector_RefusedAsHighS(string name)
    {
        var item = Vectors.Case(Positive, name);
        SiweMessage.TryCreate(SiweMessageTests.Fields(item), out var message, out _).ShouldBeTrue();
        var signature = Convert.FromHexString(item.GetProperty("signature").GetString()![2..]);
        var twin = "0x" + Convert.ToHexStringLower(PersonalSignTests.HighSTwin(signature));

        SiweVerifier.Verify(message, twin, ReferenceContext(item)).Failure.ShouldBe(SiweFailure.HighS);
    }

    [Fact]
    public void Verify_ReferenceCaseIssuedAfterNow_RefusedByDefault()
    {
        // The reference "expired message" positive case checks at 2020 a message issued in 2022;
        // the reference verifier ignores Issued At, this one does unless told otherwise.
        var item = Vectors.Case(Positive, "expired message");
        SiweMessage.TryCreate(SiweMessageTests.Fields(item), out var message, out _).ShouldBeTrue();
        var context = ReferenceContext(item) with { RejectIssuedInFuture = true };

        SiweVerifier.Verify(message, item.GetProperty("signature").GetString()!, context).Failure.ShouldBe(SiweFailure.IssuedInFuture);
    }

    [Fact]
    public void Verify_SignedBySdkSigner_ValidWithAddress()
    {
        var (text, signature) = SignedMessage();

        var result = SiweVerifier.Verify(text, signature, Context());

        result.IsValid.ShouldBeTrue(result.Detail);
        result.Address.ShouldBe(PersonalSign.PrivateKeyToAddress(Key));
        result.Detail.ShouldBeNull();
    }

    [Fact]
    public void Verify_SignatureWithoutPrefixAndUppercase_Valid()
    {
        var (text, signature) = SignedMessage();

        SiweVerifier.Verify(text, signature[2..].ToUpperInvariant(), Context()).IsValid.ShouldBeTrue();
    }

    [Fact]
    public void Verify_VAsZeroOrOne_Valid()
    {
        var (text, signature) = SignedMessage();
        var bytes = Convert.FromHexString(signature[2..]);
        bytes[64] -= 27;

        SiweVerifier.Verify(text, Convert.ToHexString(bytes), Context()).IsValid.ShouldBeTrue();
    }

    [Fact]
    public void Verify_MessageAlteredAfterSigning_SignatureMismatch()
    {
        var (text, signature) = SignedMessage();
        var altered = text.Replace("Chain ID: 1", "Chain ID: 10", StringComparison.Ordinal);

        SiweVerifier.Verify(altered, signature, Context()).Failure.ShouldBe(SiweFailure.SignatureMismatch);
    }

    [Fact]
    public void Verify_SignedByAnotherKey_SignatureMismatch()
    {
        var (text, _) = SignedMessage();
        var otherKey = Enumerable.Repeat((byte)7, 32).ToArray();
        var signature = Convert.ToHexString(PersonalSign.Sign(PersonalSign.HashMessage(text), otherKey));

        SiweVerifier.Verify(text, signature, Context()).Failure.ShouldBe(SiweFailure.SignatureMismatch);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0x")]
    [InlineData("0x1234")]
    [InlineData("not hex at all")]
    public void Verify_GarbageSignature_MalformedSignature(string signature)
    {
        var (text, _) = SignedMessage();

        SiweVerifier.Verify(text, signature, Context()).Failure.ShouldBe(SiweFailure.MalformedSignature);
    }

    [Fact]
    public void Verify_64ByteSignature_MalformedSignature()
    {
        var (text, signature) = SignedMessage();

        SiweVerifier.Verify(text, signature[..^2], Context()).Failure.ShouldBe(SiweFailure.MalformedSignature);
    }

    [Fact]
    public void Verify_RZero_MalformedSignature()
    {
        var (text, signature) = SignedMessage();
        var zeroR = "0x" + new string('0', 64) + signature[66..];

        SiweVerifier.Verify(text, zeroR, Context()).Failure.ShouldBe(SiweFailure.MalformedSignature);
    }

    [Fact]
    public void Verify_HighSTwin_HighS()
    {
        var (text, signature) = SignedMessage();
        var twin = PersonalSignTests.HighSTwin(Convert.FromHexString(signature[2..]));

        SiweVerifier.Verify(text, Convert.ToHexString(twin), Context()).Failure.ShouldBe(SiweFailure.HighS);
    }

    [Theory]
    [InlineData("EXAMPLE.com", true)]
    [InlineData("example.org", false)]
    [InlineData("example.com:443", false)]
    public void Verify_DomainList_ComparesAuthorityCaseInsensitively(string allowed, bool valid)
    {
        var (text, signature) = SignedMessage();

        var result = SiweVerifier.Verify(text, signature, Context() with { AllowedDomains = [allowed] });

        result.IsValid.ShouldBe(valid);
        if (!valid)
        {
            result.Failure.ShouldBe(SiweFailure.DomainMismatch);
        }
    }

    [Fact]
    public void Verify_DomainPredicate_Consulted()
    {
        var (text, signature) = SignedMessage();
        var seen = new List<string>();
        var context = Context() with { AllowedDomains = null, DomainPredicate = d => { seen.Add(d); return false; } };

        SiweVerifier.Verify(text, signature, context).Failure.ShouldBe(SiweFailure.DomainMismatch);
        seen.ShouldBe(["example.com"]);
    }

    [Fact]
    public void Verify_NoDomainConfigured_ThrowsRatherThanSkippingTheCheck()
    {
        var (text, signature) = SignedMessage();

        Should.Throw<InvalidOperationException>(() => SiweVerifier.Verify(text, signature, new SiweVerificationContext()));
    }

    [Theory]
    [InlineData("http", "https", SiweFailure.SchemeMismatch)]
    [InlineData("https", "https", SiweFailure.None)]
    [InlineData(null, "https", SiweFailure.None)]
    [InlineData(null, "http", SiweFailure.SchemeMismatch)]
    public void Verify_ExpectedScheme_MissingSchemeCountsAsHttps(string? scheme, string expected, SiweFailure failure)
    {
        var (text, signature) = SignedMessage(fields => fields with { Scheme = scheme });

        SiweVerifier.Verify(text, signature, Context() with { ExpectedScheme = expected }).Failure.ShouldBe(failure);
    }

    [Fact]
    public void Verify_ChainNotInAllowedList_ChainNotAllowed()
    {
        var (text, signature) = SignedMessage();

        SiweVerifier.Verify(text, signature, Context() with { AllowedChainIds = [10, 8453] }).Failure.ShouldBe(SiweFailure.ChainNotAllowed);
        SiweVerifier.Verify(text, signature, Context() with { AllowedChainIds = [1] }).IsValid.ShouldBeTrue();
    }

    [Theory]
    [InlineData("abcdEFGH1234", true)]
    [InlineData("abcdefgh1234", false)]
    [InlineData("abcdEFGH123", false)]
    [InlineData("abcdEFGH12345", false)]
    public void Verify_ExpectedNonce_MustMatchExactly(string expected, bool valid)
    {
        var (text, signature) = SignedMessage();

        var result = SiweVerifier.Verify(text, signature, Context() with { ExpectedNonce = expected });

        result.IsValid.ShouldBe(valid);
        if (!valid)
        {
            result.Failure.ShouldBe(SiweFailure.NonceMismatch);
        }
    }

    [Theory]
    [InlineData(-120, null)]
    [InlineData(0, null)]
    [InlineData(59, null)]
    [InlineData(60, SiweFailure.Expired)]
    [InlineData(3600, SiweFailure.Expired)]
    public void Verify_AroundExpiration_SkewAllowsUpTo60Seconds(int secondsAfterExpiry, SiweFailure? expected)
    {
        var expires = Issued.AddMinutes(10);
        var (text, signature) = SignedMessage(fields => fields with { ExpirationTime = SiweMessage.FormatTimestamp(expires) });

        var result = SiweVerifier.Verify(text, signature, Context(expires.AddSeconds(secondsAfterExpiry)));

        result.Failure.ShouldBe(expected ?? SiweFailure.None, result.Detail);
    }

    [Theory]
    [InlineData(-61, SiweFailure.NotYetValid)]
    [InlineData(-60, null)]
    [InlineData(0, null)]
    public void Verify_AroundNotBefore_SkewAllowsUpTo60Seconds(int secondsFromNotBefore, SiweFailure? expected)
    {
        var notBefore = Issued.AddMinutes(5);
        var (text, signature) = SignedMessage(fields => fields with { NotBefore = SiweMessage.FormatTimestamp(notBefore) });

        var result = SiweVerifier.Verify(text, signature, Context(notBefore.AddSeconds(secondsFromNotBefore)));

        result.Failure.ShouldBe(expected ?? SiweFailure.None, result.Detail);
    }

    [Theory]
    [InlineData(-61, SiweFailure.IssuedInFuture)]
    [InlineData(-60, null)]
    public void Verify_IssuedAtAheadOfClock_RefusedBeyondSkew(int secondsFromIssue, SiweFailure? expected)
    {
        var (text, signature) = SignedMessage();

        var result = SiweVerifier.Verify(text, signature, Context(Issued.AddSeconds(secondsFromIssue)));

        result.Failure.ShouldBe(expected ?? SiweFailure.None, result.Detail);
    }

    [Fact]
    public void Verify_ZeroSkew_ExpiresAtTheInstant()
    {
        var expires = Issued.AddMinutes(10);
        var (text, signature) = SignedMessage(fields => fields with { ExpirationTime = SiweMessage.FormatTimestamp(expires) });
        var context = Context(expires) with { AllowedClockSkew = TimeSpan.Zero };

        SiweVerifier.Verify(text, signature, context).Failure.ShouldBe(SiweFailure.Expired);
    }

    [Fact]
    public void Verify_LowercaseAddressInText_BadChecksum()
    {
        var (text, signature) = SignedMessage();
        var address = PersonalSign.PrivateKeyToAddress(Key).ToString();

        var result = SiweVerifier.Verify(text.Replace(address, address.ToLowerInvariant(), StringComparison.Ordinal), signature, Context());

        result.Failure.ShouldBe(SiweFailure.BadChecksum);
    }

    [Fact]
    public void Verify_UnparseableText_MalformedMessage()
    {
        var (_, signature) = SignedMessage();

        var result = SiweVerifier.Verify("hello", signature, Context());

        result.Failure.ShouldBe(SiweFailure.MalformedMessage);
        result.Detail.ShouldNotBeNullOrWhiteSpace();
    }

    [Fact]
    public void Verify_CheapChecksFailFirst_DomainReportedBeforeBadSignature()
    {
        var (text, _) = SignedMessage();

        SiweVerifier.Verify(text, "junk", Context() with { AllowedDomains = ["other.example"] }).Failure.ShouldBe(SiweFailure.DomainMismatch);
    }

    private static SiweVerificationContext Context(DateTimeOffset? now = null) =>
        SiweVerificationContext.ForDomains("example.com") with { TimeProvider = new FixedTimeProvider(now ?? Issued.AddMinutes(1)) };

    // The reference verifier's semantics: domain bound only when the case says so, clock = "time"
    // or the real clock, Issued At not compared with now.
    private static SiweVerificationContext ReferenceContext(JsonElement item) => new()
    {
        AllowedDomains = [item.OptionalString("domainBinding") ?? item.GetProperty("domain").GetString()!],
        ExpectedNonce = item.OptionalString("matchNonce"),
        TimeProvider = item.OptionalString("time") is { } time
            ? new FixedTimeProvider(DateTimeOffset.Parse(time, System.Globalization.CultureInfo.InvariantCulture))
            : TimeProvider.System,
        RejectIssuedInFuture = false,
    };

    private static (string Text, string Signature) SignedMessage(Func<SiweMessageFields, SiweMessageFields>? change = null)
    {
        var fields = new SiweMessageFields
        {
            Domain = "example.com",
            Address = PersonalSign.PrivateKeyToAddress(Key).ToString(),
            Statement = "Sign in to Freeside.",
            Uri = "https://example.com/login",
            Version = "1",
            ChainId = 1,
            Nonce = "abcdEFGH1234",
            IssuedAt = SiweMessage.FormatTimestamp(Issued),
        };
        SiweMessage.TryCreate(change?.Invoke(fields) ?? fields, out var message, out var error).ShouldBeTrue(error);
        var signature = PersonalSign.Sign(PersonalSign.HashMessage(message.Text), Key);
        return (message.Text, "0x" + Convert.ToHexStringLower(signature));
    }
}
