using System.Security.Cryptography;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;

namespace Freeside.Features.Linking;

/// <summary>
/// A chat user asked to /verify: a single-use link (15 minutes, three signature attempts) to a page
/// where their wallet signs a SIWE message naming the link. Only the token's hash is stored.
/// </summary>
public static class StartLink
{
    public sealed record Command(LinkPlatform Platform, string ExternalUserId, string? DisplayName) : ICommand<View>;

    public sealed record View(Uri Url, DateTimeOffset ExpiresAt);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Platform).IsInEnum();
            RuleFor(c => c.ExternalUserId).NotEmpty().MaximumLength(64)
                .Matches("^[A-Za-z0-9_-]+$").WithMessage("external_user_id must be letters, digits, '_' or '-'.");
            RuleFor(c => c.DisplayName).MaximumLength(100);
        }
    }

    internal sealed class Handler(FreesideDb db, LinkUrls urls, TimeProvider time) : IRequestHandler<Command, Result<View>>
    {
        public Task<Result<View>> Handle(Command request, CancellationToken cancellationToken)
        {
            var token = LinkTokens.New();
            var now = time.GetUtcNow();
            var link = new LinkRequest
            {
                Id = Guid.CreateVersion7(),
                TokenHash = LinkTokens.Hash(token),
                Platform = request.Platform,
                ExternalUserId = request.ExternalUserId,
                DisplayName = request.DisplayName,
                CreatedAt = now,
                ExpiresAt = now + LinkRequest.Lifetime,
            };
            db.Add(link);
            return Task.FromResult<Result<View>>(new View(urls.PageFor(token), link.ExpiresAt));
        }
    }
}

/// <summary>Link tokens: 32 random bytes, base64url (valid as a SIWE Request ID), stored as SHA-256.</summary>
public static class LinkTokens
{
    public const int Length = 43;

    public static string New() => Base64Url(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string token) => SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(token));

    /// <summary>Shape only; a token that cannot be one never reaches the database.</summary>
    public static bool IsWellFormed(string? token) =>
        token is { Length: Length } && token.All(c => c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_');

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
