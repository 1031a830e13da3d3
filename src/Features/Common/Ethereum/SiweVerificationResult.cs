namespace Freeside.Features.Common.Ethereum;

/// <summary>Why a SIWE verification failed. The numbers are stable: they may be logged and stored.</summary>
public enum SiweFailure
{
    None = 0,
    MalformedMessage = 1,
    BadChecksum = 2,
    DomainMismatch = 3,
    SchemeMismatch = 4,
    ChainNotAllowed = 5,
    NonceMismatch = 6,
    Expired = 7,
    NotYetValid = 8,
    IssuedInFuture = 9,
    MalformedSignature = 10,
    HighS = 11,
    SignatureMismatch = 12,
}

public readonly record struct SiweVerificationResult
{
    private SiweVerificationResult(SiweFailure failure, string? detail, EthereumAddress address)
    {
        Failure = failure;
        Detail = detail;
        Address = address;
    }

    public bool IsValid => Failure == SiweFailure.None;

    public SiweFailure Failure { get; }

    /// <summary>Human-readable reason, for logs and problem details; null on success.</summary>
    public string? Detail { get; }

    /// <summary>The verified signer; meaningful only when <see cref="IsValid"/>.</summary>
    public EthereumAddress Address { get; }

    public static SiweVerificationResult Success(EthereumAddress address) => new(SiweFailure.None, null, address);

    public static SiweVerificationResult Fail(SiweFailure failure, string detail) => new(failure, detail, default);
}
