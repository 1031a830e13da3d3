using System.Text;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Identity.Keys;
using Freeside.Features.Identity.Sessions;
using MediatR;

namespace Freeside.Features.Identity.Siwe;

public static class SignIn
{
    public const int MaxMessageBytes = 4096;

    /// <summary>The wire body of POST /api/v1/auth/siwe.</summary>
    public sealed record Body(string? Message, string? Signature);

    /// <summary><paramref name="RequestHost"/> is the authority the request was sent to; the message's domain must equal it.</summary>
    public sealed record Command([property: MultiLine] string Message, string Signature, string RequestHost) : ICommand<View>;

    public sealed record View(string Token, string Address, long ChainId, DateTimeOffset ExpiresAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Message).NotEmpty()
                .Must(m => Encoding.UTF8.GetByteCount(m) <= MaxMessageBytes)
                .WithMessage($"message must be at most {MaxMessageBytes} bytes.");
            RuleFor(c => c.Signature).NotEmpty().MaximumLength(200);
            RuleFor(c => c.RequestHost).NotEmpty().MaximumLength(300);
        }
    }

    internal sealed class Handler(SiwePolicy policy, NonceStore nonces, SigningKeyRing ring, SessionTokens tokens, RateLimiter limiter)
        : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (!SiweMessage.TryParse(request.Message, out var message, out var parseError, out var badChecksum))
            {
                return new SignInRefused(badChecksum ? SiweFailure.BadChecksum : SiweFailure.MalformedMessage, parseError);
            }

            // Every attempt naming a wallet counts, signed or not: guessing is bounded per wallet across all IPs.
            var attempts = await limiter.AcquireAsync(RateLimitPolicies.SiweSignInPerAddress, message.ParsedAddress.ToChecksumString(), cancellationToken);
            if (!attempts.Allowed)
            {
                return new RateLimited(attempts);
            }

            if (!SiwePolicy.UriBelongsToDomain(message.Uri, message.Domain))
            {
                return new SignInRefused(SiweFailure.DomainMismatch, $"The URI \"{message.Uri}\" is not on the domain \"{message.Domain}\".");
            }

            var verification = SiweVerifier.Verify(message, request.Signature, policy.ContextFor(request.RequestHost));
            if (!verification.IsValid)
            {
                return new SignInRefused(verification.Failure, verification.Detail!);
            }

            if (!tokens.CanIssueUntil(message.ExpirationTime))
            {
                return new SignInRefused(SiweFailure.Expired, "The message expires within the second; sign a new one.");
            }

            // Last, so a message that fails any check leaves its nonce untouched.
            if (!await nonces.ConsumeAsync(message.Nonce, cancellationToken))
            {
                return new SignInRefused(SiweFailure.NonceMismatch, "The nonce is unknown, expired or already used; ask for a new one.");
            }

            var snapshot = await ring.GetAsync(cancellationToken);
            if (snapshot.Active is null)
            {
                return new SigningKeyUnavailable();
            }

            // A session never outlives the message that proved it (its Expiration Time).
            var issued = tokens.Issue(snapshot, verification.Address, message.ChainId, message.ExpirationTime);
            return new View(issued.Token, issued.Session.Address.ToChecksumString(), message.ChainId, issued.Session.ExpiresAt);
        }
    }
}
