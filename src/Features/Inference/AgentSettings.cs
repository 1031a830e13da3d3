using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Identity.Roles;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Inference;

/// <summary>A community's agent settings (agent_settings); a community without a row has the defaults.</summary>
public sealed class AgentSettingsRow
{
    /// <summary>$1 a wallet a day unless the community's admins set otherwise.</summary>
    public const long DefaultDailyCapPerWalletMicro = 1_000_000;

    public Guid CommunityId { get; init; }

    public long DailyCapPerWalletMicro { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

public sealed class AgentSettingsRowConfiguration : IEntityTypeConfiguration<AgentSettingsRow>
{
    public void Configure(EntityTypeBuilder<AgentSettingsRow> builder) => builder.ToTable("agent_settings").HasKey(s => s.CommunityId);
}

/// <summary>Sets a community's per-wallet daily chat spending cap (its admins, or the platform admin).</summary>
public static class SetAgentSettings
{
    public const long MaxCapMicro = 1_000_000_000_000;

    /// <param name="Caller">The signed-in wallet, which must administer the community; null for the platform admin.</param>
    public sealed record Command(string Slug, long? DailyCapPerWalletMicro, EthereumAddress? Caller) : ICommand<View>;

    public sealed record View(long DailyCapPerWalletMicro, DateTimeOffset UpdatedAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Slug).NotEmpty().MaximumLength(63);
            RuleFor(c => c.DailyCapPerWalletMicro).NotNull().InclusiveBetween(0, MaxCapMicro);
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            var found = await db.CommunityBySlugAsync(request.Slug, cancellationToken);
            if (found.Error is { } notFound)
            {
                return notFound;
            }

            var community = found.Value;
            await db.EnterCommunityAsync(community.Id, cancellationToken);
            if (request.Caller is { } caller && !await CommunityAdmins.IsAdminAsync(db, community.Id, caller, cancellationToken))
            {
                return new AccessDenied($"Only an admin of '{community.Slug}' or a platform admin may change its agent settings.");
            }

            var row = await db.Set<AgentSettingsRow>().FirstOrDefaultAsync(s => s.CommunityId == community.Id, cancellationToken);
            if (row is null)
            {
                row = new AgentSettingsRow { CommunityId = community.Id };
                db.Add(row);
            }

            row.DailyCapPerWalletMicro = request.DailyCapPerWalletMicro!.Value;
            row.UpdatedAt = time.GetUtcNow();
            return new View(row.DailyCapPerWalletMicro, row.UpdatedAt);
        }
    }
}
