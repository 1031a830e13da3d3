using System.Text.Json;
using Freeside.Features.Common.Errors;
using Freeside.Features.Discord.Client;
using MediatR;

namespace Freeside.Features.Discord;

/// <summary>
/// POST /api/discord/interactions: verify, then answer within Discord's 3-second deadline. A PING gets
/// PONG; a slash command gets an at-once deferred (ephemeral) answer and is handed to
/// <see cref="InteractionDispatcher"/>, which sends it through the pipeline as its own request and
/// edits the deferred answer through the queue when it is done.
/// </summary>
public static class ReceiveInteraction
{
    public const int MaxBodyBytes = 64 * 1024;

    public sealed record Command(byte[] Body, string? Timestamp, string? Signature) : IRequest<Result<InteractionResponse>>;

    internal sealed class Handler(DiscordSettings settings, InteractionSignatureHolder verifier, InteractionDispatcher dispatcher, TimeProvider time)
        : IRequestHandler<Command, Result<InteractionResponse>>
    {
        public Task<Result<InteractionResponse>> Handle(Command request, CancellationToken cancellationToken) => Task.FromResult(Handle(request));

        private Result<InteractionResponse> Handle(Command request)
        {
            if (verifier.Signature is not { } signature)
            {
                return new DiscordNotConfigured("DISCORD_PUBLIC_KEY");
            }

            var check = signature.Verify(request.Timestamp, request.Signature, request.Body, time.GetUtcNow(), DiscordSettings.MaxTimestampSkew);
            switch (check)
            {
                case SignatureCheck.Missing:
                    return new InteractionSignatureRejected($"{InteractionSignature.SignatureHeader} and {InteractionSignature.TimestampHeader} are required.");
                case SignatureCheck.Invalid:
                    return new InteractionSignatureRejected("The signature does not match the body and timestamp.");
                case SignatureCheck.Stale:
                    return new InteractionSignatureRejected("The timestamp is too far from now.");
            }

            Interaction? interaction;
            try
            {
                interaction = JsonSerializer.Deserialize<Interaction>(request.Body, DiscordJson.Options);
            }
            catch (JsonException e)
            {
                return new InteractionMalformed("The body is not a Discord interaction: " + e.Message);
            }

            if (interaction is null)
            {
                return new InteractionMalformed("The body is empty.");
            }

            if (interaction.Type == InteractionType.Ping)
            {
                return new InteractionResponse(InteractionCallbackType.Pong);
            }

            if (interaction.Type != InteractionType.ApplicationCommand || interaction.Token is null || interaction.Data?.Name is null
                || interaction.Invoker is null)
            {
                return new InteractionMalformed("Only slash commands with a token, a name and a user are handled.");
            }

            if (settings.ApplicationId is null && interaction.ApplicationId is null)
            {
                return new InteractionMalformed("The interaction names no application_id, and DISCORD_APPLICATION_ID is not set.");
            }

            if (!dispatcher.TryEnqueue(interaction))
            {
                return new InteractionResponse(InteractionCallbackType.ChannelMessageWithSource,
                    new MessagePayload("Freeside is busy right now; please try again in a minute.", MessageFlags.Ephemeral));
            }

            return new InteractionResponse(InteractionCallbackType.DeferredChannelMessageWithSource, new MessagePayload(Flags: MessageFlags.Ephemeral));
        }
    }
}

/// <summary>The verifier for DISCORD_PUBLIC_KEY, or none when it is not set.</summary>
public sealed class InteractionSignatureHolder(DiscordSettings settings)
{
    public InteractionSignature? Signature { get; } = settings.PublicKey is { } key ? new InteractionSignature(key) : null;
}
