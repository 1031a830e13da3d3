using Freeside.Features.Common.Errors;
using Freeside.Features.Linking;
using MediatR;

namespace Freeside.Features.Discord;

/// <summary>/verify: a single-use link to a page that signs a SIWE message linking this Discord user to a wallet.</summary>
public static class Verify
{
    public sealed record Command(InteractionContext Context) : IDiscordCommand;

    internal sealed class Handler(IMediator mediator) : IRequestHandler<Command, Result<DiscordReply>>
    {
        public async Task<Result<DiscordReply>> Handle(Command request, CancellationToken cancellationToken)
        {
            var started = await mediator.Send(new StartLink.Command(LinkPlatform.Discord, request.Context.UserId, request.Context.UserName), cancellationToken);
            if (!started.IsSuccess)
            {
                return started.Error!;
            }

            return new DiscordReply(
                $"Link your wallet: {started.Value.Url}\nThe link works once, for 15 minutes (until <t:{started.Value.ExpiresAt.ToUnixTimeSeconds()}:t>). Never share it.");
        }
    }
}
