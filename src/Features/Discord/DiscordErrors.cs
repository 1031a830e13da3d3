using Freeside.Features.Common.Errors;

namespace Freeside.Features.Discord;

public sealed record InteractionSignatureRejected(string Reason)
    : Error(ErrorKind.Unauthorized, "discord-signature-invalid", "The interaction signature did not verify.", Reason);

public sealed record DiscordNotConfigured(string Setting)
    : Error(ErrorKind.Unavailable, "discord-not-configured", "Discord is not configured.", $"{Setting} is not set on this deployment.");

public sealed record InteractionMalformed(string Reason)
    : Error(ErrorKind.Invalid, "discord-interaction-malformed", "The interaction could not be read.", Reason);

/// <summary>A command refused for a reason the Discord user should read (ephemeral), e.g. no linked wallet.</summary>
public sealed record DiscordUserError(string Message)
    : Error(ErrorKind.Forbidden, "discord-refused", "The command was refused.", Message);
