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
                .Must(a => EthereumAddress.TryParse(a, AddressChecksumPolicy.IfMixedCase, out _, out _))
                .WithMessage("address must be a 0x-prefixed 20-byte hex address with a valid EIP-55 checksum when mixed-case.");
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<CommunityAdminView>>
    {
        public async Task<Result<CommunityAdminView>> Handle(Command request, CancellationToken cancellationToken)
        {
            var community = await db.FindCommunityAsync(request.Community, cancellationToken);
            if (community is null)
            {
                return new NotFound("community", request.Community);
            }

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
