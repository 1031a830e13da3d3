using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Identity.Roles;

public static class AddCommunityAdmin
{
    /// <summary>The wire body of POST /api/v1/admin/communities/{slug}/admins.</summary>
    public sealed record Body(string? Address);

    public sealed record Command(string Community, string Address) : ICommand<CommunityAdminView>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Community).NotEmpty().MaximumLength(63);
            RuleFor(c => c.Address).NotEmpty()
                .Must(CommunityRules.IsAddress)
                .WithMessage("address " + CommunityRules.AddressRule);
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<CommunityAdminView>>
    {
        public async Task<Result<CommunityAdminView>> Handle(Command request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Community, cancellationToken);
            if (found.Error is { } notFound)
            {
                return notFound;
            }

            var community = found.Value;

            await db.EnterCommunityAsync(community.Id, cancellationToken);
            EthereumAddress.TryParse(request.Address, out var address);
            var stored = CommunityAdmins.Stored(address);
            if (await db.Set<CommunityAdmin>().AnyAsync(a => a.CommunityId == community.Id && a.Address == stored, cancellationToken))
            {
                return new AlreadyExists("community admin", $"{address.ToChecksumString()} is already an admin of '{community.Slug}'.");
            }

            var admin = new CommunityAdmin { CommunityId = community.Id, Address = stored, AddedAt = time.GetUtcNow() };
            db.Add(admin);
            return new CommunityAdminView(community.Slug, address.ToChecksumString(), admin.AddedAt);
        }
    }
}
