using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using MediatR;

namespace Freeside.Features.Identity.Keys;

public static class GetJwks
{
    /// <summary>The published key set; <see cref="IfNoneMatch"/> is the client's If-None-Match header.</summary>
    public sealed record Query(string? IfNoneMatch) : IQuery<View>;

    /// <summary>Document is null when the client's copy is current (304).</summary>
    public sealed record View(byte[]? Document, string ETag);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator() => RuleFor(q => q.IfNoneMatch).MaximumLength(1024);
    }

    internal sealed class Handler(SigningKeyRing ring) : IRequestHandler<Query, Result<View>>
    {
        public async Task<Result<View>> Handle(Query request, CancellationToken cancellationToken)
        {
            var snapshot = await ring.GetAsync(cancellationToken);
            return Matches(request.IfNoneMatch, snapshot.ETag)
                ? new View(null, snapshot.ETag)
                : new View(snapshot.JwksDocument, snapshot.ETag);
        }

        /// <summary>RFC 9110 If-None-Match: "*" or a list of entity tags, compared weakly.</summary>
        private static bool Matches(string? header, string etag)
        {
            if (string.IsNullOrWhiteSpace(header))
            {
                return false;
            }

            foreach (var candidate in header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var tag = candidate.StartsWith("W/", StringComparison.Ordinal) ? candidate[2..] : candidate;
                if (tag == "*" || string.Equals(tag, etag, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
