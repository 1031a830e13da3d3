using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
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

    internal sealed class Handler(FreesideDb db, TouchedAccounts touched, LedgerTouches touches, TimeProvider time)
        : IRequestHandler<Command, Result<Guid>>
    {
        public async Task<Result<Guid>> Handle(Command request, CancellationToken cancellationToken)
        {
            var book = new LedgerBook(db, touched, touches, time);
            await book.EnterAsync(cancellationToken);
            return await book.OpenAccountAsync(request.CommunityId, request.DeveloperId, cancellationToken);
        }
    }
}
