using Freeside.Features.Common.Errors;

namespace Freeside.Features.Linking;

/// <summary>A link that exists but is used, expired or out of attempts.</summary>
public sealed record LinkUnusable(string Slug, string Why)
    : Error(ErrorKind.Conflict, Slug, "This link can no longer be used.", Why);

/// <summary>The signed message names a different link than the one it was posted to.</summary>
public sealed record LinkMismatch()
    : Error(ErrorKind.Invalid, "link-mismatch", "The message is for another link.",
        "The message's Request ID must be this link's token; sign the message the link page builds.");
