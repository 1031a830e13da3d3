using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Linking;

/// <summary>The chain confirmed a link: it counts as verified from now. A wallet re-linked meanwhile is left alone (its /verify already counts).</summary>
public static class RecordLinkVerified
{
    public sealed record Command(LinkPlatform Platform, string ExternalUserId, string Wallet) : ICommand<bool>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Platform).IsInEnum();
            RuleFor(c => c.ExternalUserId).NotEmpty().MaximumLength(64);
            RuleFor(c => c.Wallet).Matches("^0x[0-9a-f]{40}$");
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<bool>>
    {
        public async Task<Result<bool>> Handle(Command request, CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow();
            var platform = request.Platform.ToWire();
            var updated = await db.Database.ExecuteSqlAsync($"""
                UPDATE wallet_links SET verified_at = greatest(verified_at, {now})
                WHERE platform = {platform} AND external_user_id = {request.ExternalUserId} AND wallet = {request.Wallet}
                """, cancellationToken);
            return updated == 1;
        }
    }
}
