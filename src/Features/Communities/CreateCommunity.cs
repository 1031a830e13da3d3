using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Communities;

public static class CreateCommunity
{
    public sealed record Command(
        string Slug,
        string Name,
        long ChainId,
        string CollectionAddress,
        AccessLevel? DefaultAccessLevel) : ICommand<CommunityView>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Slug).NotEmpty().Matches("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
                .WithMessage("slug must be 1-63 lower-case letters, digits or inner hyphens.");
            RuleFor(c => c.Name).NotEmpty().MaximumLength(100);
            // EIP-2294 bounds chain ids so they fit every client's integers.
            RuleFor(c => c.ChainId).InclusiveBetween(1, 4_503_599_627_370_476)
                .WithMessage("chain_id must be a positive EVM chain id.");
            RuleFor(c => c.CollectionAddress).NotEmpty().Must(CommunityRules.IsAddress)
                .WithMessage("collection_address " + CommunityRules.AddressRule);
            RuleFor(c => c.DefaultAccessLevel).NotNull().IsInEnum()
                .WithMessage("default_access_level must be one of free, pro, enterprise.");
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<CommunityView>>
    {
        public async Task<Result<CommunityView>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (await db.Set<Community>().AnyAsync(c => c.Slug == request.Slug, cancellationToken))
            {
                return new AlreadyExists("community", $"A community with slug '{request.Slug}' already exists.");
            }

            var community = new Community
            {
                Id = Guid.CreateVersion7(),
                Slug = request.Slug,
                Name = request.Name.Trim(),
                ChainId = request.ChainId,
                CollectionAddress = request.CollectionAddress.ToLowerInvariant(),
                DefaultAccessLevel = request.DefaultAccessLevel!.Value,
                CreatedAt = time.GetUtcNow(),
            };
            db.Add(community);
            return CommunityView.From(community);
        }
    }
}
