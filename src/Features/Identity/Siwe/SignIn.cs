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

    internal sealed class Handler(SiweProof proof, SigningKeyRing ring, SessionTokens tokens)
        : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            var proven = await proof.ProveAsync(request.Message, request.Signature, request.RequestHost,
                message => tokens.CanIssueUntil(message.ExpirationTime)
                    ? null
                    : new SignInRefused(SiweFailure.Expired, "The message expires within the second; sign a new one."),
                cancellationToken);
            if (proven.Error is { } refused)
            {
                return refused;
            }

            var snapshot = await ring.GetAsync(cancellationToken);
            if (snapshot.Active is null)
            {
                return new SigningKeyUnavailable();
            }

            // A session never outlives the message that proved it (its Expiration Time).
            var (message, address) = proven.Value;
            var issued = tokens.Issue(snapshot, address, message.ChainId, message.ExpirationTime);
            return new View(issued.Token, issued.Session.Address.ToChecksumString(), message.ChainId, issued.Session.ExpiresAt);
        }
    }
}
