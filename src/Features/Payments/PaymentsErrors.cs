using Freeside.Features.Common.Errors;

namespace Freeside.Features.Payments;

public sealed record IpnSignatureInvalid()
    : Error(ErrorKind.Unauthorized, "ipn-signature-invalid", "The IPN signature does not verify.",
        $"{IpnVerifier.HeaderName} must be the hex HMAC-SHA512 of the body keyed with the IPN secret.");

public sealed record IpnMalformed(string Detail)
    : Error(ErrorKind.Invalid, "ipn-malformed", "The IPN body is not a NOWPayments status notification.", Detail);

public sealed record IpnTooLarge(int Limit)
    : Error(ErrorKind.Invalid, "ipn-too-large", "The IPN body is too large.", $"An IPN body is at most {Limit} bytes.");

public sealed record PaymentsDisabled(string Detail)
    : Error(ErrorKind.Unavailable, "payments-disabled", "Checkout is switched off.", Detail);
