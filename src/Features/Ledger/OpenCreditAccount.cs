using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using MediatR;

namespace Freeside.Features.Ledger;

/// <summary>Gets or creates the credit account of a community or of a developer (API keys).</summary>
public static class OpenCreditAccount
{
    public sealed record Command(Guid? CommunityId, Guid? DeveloperId) : ICommand<Guid>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c).Must(c => (c.CommunityId is null) != (c.DeveloperId is null))
            .WithName("community_id").WithMessage("Exactly one of community_id and developer_id is required.");
    }

    internal sealed class Handler(LedgerStore store) : IRequestHandler<Command, Result<Guid>>
    {
        public async Task<Result<Guid>> Handle(Command request, CancellationToken cancellationToken) =>
            await store.OpenAccountAsync(request.CommunityId, request.DeveloperId, cancellationToken);
    }
}
