using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Identity.Keys;

/// <summary>
/// Before the host serves requests: makes sure there is an active signing key this KEK can open
/// (the first start creates one), then loads the key set.
/// </summary>
public sealed partial class SigningKeyBootstrap(IServiceScopeFactory scopes, SigningKeyRing ring, ILogger<SigningKeyBootstrap> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using (var scope = scopes.CreateAsyncScope())
        {
            var mediator = scope.ServiceProvider.GetRequiredService<IMediator>();
            var result = await mediator.Send(new RotateSigningKey.Command(RotateSigningKey.Trigger.Bootstrap), cancellationToken);
            if (!result.IsSuccess)
            {
                throw new InvalidOperationException("Could not prepare a signing key: " + result.Error!.Detail);
            }

            if (result.Value.Rotated)
            {
                LogCreated(logger, result.Value.ActiveKid);
            }
        }

        await ring.RefreshAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 4103, Level = LogLevel.Information, Message = "Created signing key {Kid}")]
    private static partial void LogCreated(ILogger logger, string kid);
}
