using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;

namespace Freeside.Features.Inference;

/// <summary>Stores one chat turn — the holder's message and what the agent delivered — in the community's scope.</summary>
public static class RecordExchange
{
    public sealed record Command(Guid CommunityId, IReadOnlyList<AgentMessage> Messages) : ICommand<int>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.CommunityId).NotEmpty();
            RuleFor(c => c.Messages).NotEmpty().Must((c, messages) => messages.All(m => m.CommunityId == c.CommunityId))
                .WithMessage("Every message must belong to the command's community.");
        }
    }

    internal sealed class Handler(FreesideDb db) : IRequestHandler<Command, Result<int>>
    {
        public async Task<Result<int>> Handle(Command request, CancellationToken cancellationToken)
        {
            await db.EnterCommunityAsync(request.CommunityId, cancellationToken);
            db.AddRange(request.Messages);
            return request.Messages.Count;
        }
    }
}
