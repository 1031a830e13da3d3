using System.Data.Common;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Identity.Keys;

/// <summary>
/// Makes sure there is an active signing key this KEK can open (the first start creates one), then
/// loads the key set. Runs before the host serves requests; if the database is not reachable yet it
/// does not stop the host (health reports the database) but retries every few seconds, and signing
/// answers "signing key unavailable" until it succeeds.
/// </summary>
public sealed partial class SigningKeyBootstrap(IServiceScopeFactory scopes, SigningKeyRing ring, ILogger<SigningKeyBootstrap> logger)
    : IHostedService
{
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(5);
    private CancellationTokenSource? _stopping;
    private Task? _retrying;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!await TryPrepareAsync(cancellationToken))
        {
            _stopping = new CancellationTokenSource();
            _retrying = RetryAsync(_stopping.Token);
        }
    }

    /// <summary>Safe to call more than once (a test host may stop twice while it is disposed).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var stopping = Interlocked.Exchange(ref _stopping, null);
        if (stopping is null || _retrying is null)
        {
            return;
        }

        try
        {
            await stopping.CancelAsync();
            await _retrying.WaitAsync(cancellationToken);
        }
        finally
        {
            stopping.Dispose();
        }
    }

    private async Task RetryAsync(CancellationToken cancellationToken)
    {
        try
        {
            do
            {
                await Task.Delay(RetryInterval, cancellationToken);
            }
            while (!await TryPrepareAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task<bool> TryPrepareAsync(CancellationToken cancellationToken)
    {
        try
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
            return true;
        }
        catch (Exception e) when (e is DbException or TimeoutException || e.InnerException is DbException)
        {
            LogNotReady(logger, e);
            return false;
        }
    }

    [LoggerMessage(EventId = 4103, Level = LogLevel.Information, Message = "Created signing key {Kid}")]
    private static partial void LogCreated(ILogger logger, string kid);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Error, Message = "The signing keys could not be prepared (database unreachable or not migrated); retrying")]
    private static partial void LogNotReady(ILogger logger, Exception exception);
}
