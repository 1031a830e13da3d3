using System.Diagnostics.Metrics;
using Freeside.Features.Common.Jobs;
using Freeside.Features.Common.Observability;
using Freeside.Features.Discord.Client;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freeside.Features.Discord;

/// <summary>Published after a queued write succeeded, with Discord's answer (e.g. the new thread's id).</summary>
public sealed record DiscordWriteSent(Guid WriteId, string? DedupeKey, string Origin, string Response) : INotification;

/// <summary>Wakes the worker when a write was queued, so it does not wait for its next poll.</summary>
public sealed class DiscordWriteSignal : WakeSignal;

/// <summary>
/// Drains <c>discord_writes</c> on every replica. Rows are claimed with FOR UPDATE SKIP LOCKED and a
/// lease, so replicas never send the same write at once and a replica that dies mid-send leaves its
/// rows to be claimed again when the lease runs out (a restart loses nothing; a write may be sent twice
/// only when the process died after Discord accepted it and before the row was marked). Each send first
/// takes a unit from the global Discord limit shared by all replicas in Redis.
/// </summary>
public sealed partial class DiscordWriteWorker(
    NpgsqlDataSource dataSource,
    DiscordRestClient rest,
    DiscordSettings settings,
    DiscordWriteSignal signal,
    IServiceScopeFactory scopes,
    TimeProvider time,
    IMeterFactory meters,
    ILogger<DiscordWriteWorker> logger) : BackgroundService
{
    public const int Parallelism = 8;
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(500);
    private readonly Counter<long> _outcomes = meters.Create(FreesideMetrics.MeterName)
        .CreateCounter<long>("discord_writes", null, "Discord writes finished by the queue, by outcome (sent, retry, dead).");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!settings.InteractionsEnabled && settings.BotToken is null)
        {
            // Discord is not set up here: nothing queues writes, so there is nothing to poll for.
            return;
        }

        await QueueWorker.RunAsync(DrainOnceAsync, signal, Poll, e => LogQueueRoundFailed(logger, e), stoppingToken);
    }

    /// <summary>Claims and sends one batch of due writes; returns how many were claimed.</summary>
    public async Task<int> DrainOnceAsync(CancellationToken cancellationToken)
    {
        var batch = await ClaimAsync(Parallelism * 4, cancellationToken);
        await Parallel.ForEachAsync(batch, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken },
            async (write, ct) => await SendAsync(write, ct));
        return batch.Count;
    }

    private async Task SendAsync(Claimed write, CancellationToken cancellationToken)
    {
        DiscordResponse? response = null;
        string? error = null;
        try
        {
            response = await rest.SendAsync(new DiscordRequest(new HttpMethod(write.Method), write.Path, write.Body), cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // The type only: an HttpRequestException's message can quote the URI, and webhook URIs hold a token.
            error = e.GetType().Name;
        }

        var now = time.GetUtcNow();
        if (response is { IsSuccess: true })
        {
            await FinishAsync(write.Id, "sent", response.Status, null, Truncate(response.Body, 8000), now, cancellationToken);
            _outcomes.Add(1, new KeyValuePair<string, object?>("outcome", "sent"));
            await using var scope = scopes.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<IMediator>()
                .Publish(new DiscordWriteSent(write.Id, write.DedupeKey, write.Origin, response.Body), cancellationToken);
            return;
        }

        error ??= $"HTTP {response!.Status}: {Truncate(response.Body, 500)}";
        // A 4xx other than 429 (missing permission, unknown channel, bad payload) is Discord refusing this
        // write for good; sending it again cannot help, so it goes to the dead letters at once.
        var permanent = response is { Status: >= 400 and < 500 and not 429 };
        if (permanent || write.Attempts >= DiscordWrite.MaxAttempts)
        {
            await FinishAsync(write.Id, "dead", response?.Status, error, null, now, cancellationToken);
            _outcomes.Add(1, new KeyValuePair<string, object?>("outcome", "dead"));
            LogDeadLetter(logger, write.Id, write.Origin, write.Attempts, response?.Status);
            return;
        }

        await RetryLaterAsync(write.Id, response?.Status, error, now + DiscordWrite.Backoff(settings.RetryBase, write.Attempts), cancellationToken);
        _outcomes.Add(1, new KeyValuePair<string, object?>("outcome", "retry"));
    }

    private sealed record Claimed(Guid Id, string? DedupeKey, string Origin, string Method, string Path, string? Body, int Attempts);

    private async Task<List<Claimed>> ClaimAsync(int limit, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var command = dataSource.CreateCommand("""
            UPDATE discord_writes SET lease_until = @lease, attempts = attempts + 1
            WHERE id IN (
                SELECT id FROM discord_writes
                WHERE status = 'pending' AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until < @now)
                ORDER BY next_attempt_at, created_at
                LIMIT @limit
                FOR UPDATE SKIP LOCKED)
            RETURNING id, dedupe_key, origin, method, path, body, attempts
            """);
        command.Parameters.AddWithValue("lease", now + Lease);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("limit", limit);
        var claimed = new List<Claimed>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            claimed.Add(new Claimed(reader.GetGuid(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetInt32(6)));
        }

        return claimed;
    }

    private async Task FinishAsync(Guid id, string status, int? httpStatus, string? error, string? response, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE discord_writes SET status = @status, lease_until = NULL, last_status = @http, last_error = @error, response = @response, finished_at = @now
            WHERE id = @id
            """);
        command.Parameters.AddWithValue("status", status);
        command.Parameters.AddWithValue("http", (object?)httpStatus ?? DBNull.Value);
        command.Parameters.AddWithValue("error", (object?)error ?? DBNull.Value);
        command.Parameters.AddWithValue("response", (object?)response ?? DBNull.Value);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("id", id);
        await command.ExecuteNonQueryAsync(CancellationToken.None);
        cancellationToken.ThrowIfCancellationRequested();
    }

    private async Task RetryLaterAsync(Guid id, int? httpStatus, string error, DateTimeOffset next, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE discord_writes SET lease_until = NULL, last_status = @http, last_error = @error, next_attempt_at = @next WHERE id = @id
            """);
        command.Parameters.AddWithValue("http", (object?)httpStatus ?? DBNull.Value);
        command.Parameters.AddWithValue("error", error);
        command.Parameters.AddWithValue("next", next);
        command.Parameters.AddWithValue("id", id);
        await command.ExecuteNonQueryAsync(CancellationToken.None);
        cancellationToken.ThrowIfCancellationRequested();
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max];

    [LoggerMessage(Level = LogLevel.Warning, Message = "A round of the Discord write queue failed; trying again")]
    private static partial void LogQueueRoundFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Discord write {WriteId} from {Origin} is a dead letter after {Attempts} attempt(s), last HTTP status {Status}")]
    private static partial void LogDeadLetter(ILogger logger, Guid writeId, string origin, int attempts, int? status);
}
