using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Communities;

public static class GetCommunity
{
    public sealed record Query(string Slug) : IQuery<CommunityView>;

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
    }

    internal sealed class Handler(FreesideDb db) : IRequestHandler<Query, Result<CommunityView>>
    {
        public async Task<Result<CommunityView>> Handle(Query request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Slug, cancellationToken);
            return found.IsSuccess ? CommunityView.From(found.Value) : found.Error!;
        }
    }
}
