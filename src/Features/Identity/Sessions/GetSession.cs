using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using MediatR;

namespace Freeside.Features.Identity.Sessions;

public static class GetSession
{
    public sealed record Query(Session Caller) : IQuery<View>;

    public sealed record View(string Address, long ChainId, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Caller).NotNull();
    }

    internal sealed class Handler : IRequestHandler<Query, Result<View>>
    {
        public Task<Result<View>> Handle(Query request, CancellationToken cancellationToken) =>
            Task.FromResult<Result<View>>(new View(
                request.Caller.Address.ToChecksumString(), request.Caller.ChainId, request.Caller.IssuedAt, request.Caller.ExpiresAt));
    }
}
