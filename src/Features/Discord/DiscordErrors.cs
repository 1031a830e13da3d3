using Freeside.Features.Common.Errors;

namespace Freeside.Features.Discord;

public sealed record InteractionSignatureRejected(string Reason)
    : Error(ErrorKind.Unauthorized, "discord-signature-invalid", "The interaction signature did not verify.", Reason);

/// <summary>No DISCORD_PUBLIC_KEY: no interaction can be verified, so every one is unauthorized (as an IPN without its secret).</summary>
public sealed record DiscordNotConfigured(string Setting)
    : Error(ErrorKind.Unauthorized, "discord-not-configured", "Discord is not configured.", $"{Setting} is not set on this deployment; no interaction can verify.");

public sealed record InteractionMalformed(string Reason)
    : Error(ErrorKind.Invalid, "discord-interaction-malformed", "The interaction could not be read.", Reason);

/// <summary>A command refused for a reason the Discord user should read (ephemeral), e.g. no linked wallet.</summary>
public sealed record DiscordUserError(string Message)
    : Error(ErrorKind.Forbidden, "discord-refused", "The command was refused.", Message);
