using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using MediatR;

namespace Freeside.Features.Identity.Siwe;

public static class IssueNonce
{
    public sealed record Command : ICommand<View>;

    public sealed record View(string Nonce, DateTimeOffset ExpiresAt);

    public sealed class Validator : AbstractValidator<Command>;

    internal sealed class Handler(NonceStore nonces) : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            var nonce = await nonces.IssueAsync();
            return new View(nonce.Nonce, nonce.ExpiresAt);
        }
    }
}
