using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Identity.Roles;
using Freeside.Features.Identity.Siwe;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Linking;

/// <summary>Shared by the link commands: find the link by its token's hash, locked for this transaction.</summary>
internal static class LinkRequests
{
    public static Task<LinkRequest?> LockAsync(FreesideDb db, string token, CancellationToken cancellationToken)
    {
        var hash = LinkTokens.Hash(token);
        return db.Set<LinkRequest>().FromSql($"SELECT * FROM link_requests WHERE token_hash = {hash} FOR UPDATE").SingleOrDefaultAsync(cancellationToken);
    }

    public static NotFound Missing() => new("link", "this token");
}

/// <summary>
/// Spends one of a link's three attempts. Its own unit of work, committed before the signature is
/// looked at, so a refused signature still counts against the link.
/// </summary>
public static class SpendLinkAttempt
{
    public sealed record Command(string Token) : ICommand<View>;

    public sealed record View(int AttemptsLeft);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Token).Must(LinkTokens.IsWellFormed).WithName("token")
            .WithMessage($"token must be the {LinkTokens.Length}-character link token from the bot's message.");
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            var link = await LinkRequests.LockAsync(db, request.Token, cancellationToken);
            if (link is null)
            {
                return LinkRequests.Missing();
            }

            if (link.Unusable(time.GetUtcNow()) is { } unusable)
            {
                return unusable;
            }

            link.Attempts++;
            return new View(LinkRequest.MaxAttempts - link.Attempts);
        }
    }
}

/// <summary>
/// Completes a link with a SIWE message whose Request ID is the link's token, signed by the wallet
/// to link. The latest link of a chat user replaces their wallet.
/// </summary>
public static class CompleteLink
{
    public sealed record Body(string? Message, string? Signature);

    public sealed record Command(string Token, [property: MultiLine] string Message, string Signature, string RequestHost) : ICommand<View>;

    public sealed record View(string Platform, string Wallet, DateTimeOffset LinkedAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Token).Must(LinkTokens.IsWellFormed).WithName("token")
                .WithMessage($"token must be the {LinkTokens.Length}-character link token from the bot's message.");
            RuleFor(c => c.Message).NotEmpty().MaximumLength(SignIn.MaxMessageBytes);
            RuleFor(c => c.Signature).NotEmpty().MaximumLength(200);
            RuleFor(c => c.RequestHost).NotEmpty().MaximumLength(300);
        }
    }

    internal sealed class Handler(FreesideDb db, SiweProof proof, CommitNotifications notifications, TimeProvider time) : IRequestHandler<Command, Result<View>>
    {
        public async Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            var proven = await proof.ProveAsync(request.Message, request.Signature, request.RequestHost,
                message => message.RequestId == request.Token ? null : new LinkMismatch(),
                cancellationToken);
            if (proven.Error is { } refused)
            {
                return refused;
            }

            var link = await LinkRequests.LockAsync(db, request.Token, cancellationToken);
            if (link is null)
            {
                return LinkRequests.Missing();
            }

            var now = time.GetUtcNow();
            // Attempts were spent before this command; only a completion or the clock can end the link now.
            if (link.CompletedAt is not null || link.ExpiresAt <= now)
            {
                return link.Unusable(now)!;
            }

            var wallet = CommunityAdmins.Stored(proven.Value.Address);
            link.CompletedAt = now;
            link.Wallet = wallet;
            var platform = link.Platform.ToWire();
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO wallet_links (platform, external_user_id, wallet, linked_at, verified_at)
                VALUES ({platform}, {link.ExternalUserId}, {wallet}, {now}, {now})
                ON CONFLICT (platform, external_user_id) DO UPDATE
                    SET wallet = excluded.wallet, linked_at = excluded.linked_at, verified_at = excluded.verified_at, checked_at = NULL
                """, cancellationToken);
            notifications.Add(new WalletLinked(link.Platform, link.ExternalUserId, proven.Value.Address));
            return new View(platform, proven.Value.Address.ToChecksumString(), now);
        }
    }
}

/// <summary>What the link page shows before the wallet signs.</summary>
public static class GetLink
{
    public sealed record Query(string Token) : IQuery<View>;

    /// <param name="Status">open, used, expired or attempts-exhausted.</param>
    /// <param name="ChainIds">The chains a signature may name (SIWE_CHAIN_IDS); the page prefers the wallet's own.</param>
    public sealed record View(string Platform, string? DisplayName, string Status, int AttemptsLeft, DateTimeOffset ExpiresAt, IReadOnlyList<long> ChainIds, string Statement);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.Token).Must(LinkTokens.IsWellFormed).WithName("token")
            .WithMessage($"token must be the {LinkTokens.Length}-character link token from the bot's message.");
    }

    internal sealed class Handler(FreesideDb db, Identity.IdentitySettings identity, TimeProvider time) : IRequestHandler<Query, Result<View>>
    {
        public async Task<Result<View>> Handle(Query request, CancellationToken cancellationToken)
        {
            var hash = LinkTokens.Hash(request.Token);
            var link = await db.Set<LinkRequest>().AsNoTracking().SingleOrDefaultAsync(l => l.TokenHash == hash, cancellationToken);
            if (link is null)
            {
                return LinkRequests.Missing();
            }

            var status = link.Unusable(time.GetUtcNow()) is { } unusable ? unusable.Slug.Replace("link-", "", StringComparison.Ordinal) : "open";
            return new View(link.Platform.ToWire(), link.DisplayName, status, LinkRequest.MaxAttempts - link.Attempts, link.ExpiresAt,
                identity.SiweChainIds, StatementFor(link.Platform));
        }
    }

    /// <summary>The sentence the wallet shows the user; ASCII only, as EIP-4361 statements must be.</summary>
    public static string StatementFor(LinkPlatform platform) =>
        $"Link my {platform.DisplayName()} account to this wallet on Freeside.";
}
