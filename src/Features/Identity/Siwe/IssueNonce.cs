using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using MediatR;

namespace Freeside.Features.Identity.Siwe;

public static class IssueNonce
{
    public sealed record Command : ICommand<Result>;

    public sealed record Result(string Nonce, DateTimeOffset ExpiresAt);

    public sealed class Validator : AbstractValidator<Command>;

    internal sealed class Handler(NonceStore nonces) : IRequestHandler<Command, Result<Result>>
    {
        public async Task<Result<Result>> Handle(Command request, CancellationToken cancellationToken)
        {
            var nonce = await nonces.IssueAsync();
            return new Result(nonce.Nonce, nonce.ExpiresAt);
        }
    }
}
