using System.Text;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
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
    public sealed record Command(string Message, string Signature, string RequestHost) : ICommand<Result>;

    public sealed record Result(string Token, string Address, long ChainId, DateTimeOffset ExpiresAt);

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

    internal sealed class Handler(SiwePolicy policy, NonceStore nonces, SigningKeyRing ring, SessionTokens tokens)
        : IRequestHandler<Command, Result<Result>>
    {
        public async Task<Result<Result>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (!SiweMessage.TryParse(request.Message, out var message, out var parseError, out var badChecksum))
            {
                return new SignInRefused(badChecksum ? SiweFailure.BadChecksum : SiweFailure.MalformedMessage, parseError);
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

            var issued = tokens.Issue(snapshot, verification.Address, message.ChainId);
            return new Result(issued.Token, issued.Session.Address.ToChecksumString(), message.ChainId, issued.Session.ExpiresAt);
        }
    }
}
