using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Serialization;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Redis;
using Freeside.Features.Common.Time;
using MediatR;
using Npgsql;

namespace Freeside.Features.Health;

public static class CheckHealth
{
    public const string ContractVersion = "7.0.0";

    public sealed record Query : IQuery<Report>;

    public sealed record Report(string Status, string Version, long UptimeS, string ContractVersion, Checks Checks)
    {
        [JsonIgnore]
        public bool IsServing => Status != "unhealthy";
    }

    public sealed record Checks(Probe Postgres, Probe Redis);

    public sealed record Probe(string Status, double? LatencyMs);

    internal sealed class Handler(NpgsqlDataSource dataSource, RedisConnection redis, ProcessClock clock) : IRequestHandler<Query, Result<Report>>
    {
        private static readonly string Version =
            typeof(Handler).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

        public async Task<Result<Report>> Handle(Query request, CancellationToken cancellationToken)
        {
            var postgresTask = ProbePostgresAsync(cancellationToken);
            var redisTask = redis.PingAsync();
            var postgres = await postgresTask;
            var redisProbe = await redisTask;

            // PostgreSQL is the system of record: without it nothing can be served. Redis only holds
            // caches and counters with fallbacks, so its loss degrades the service but keeps it up.
            var status = postgres.Status != "ok" ? "unhealthy" : redisProbe.Status == "ok" ? "ok" : "degraded";
            return new Report(status, Version, (long)clock.Uptime.TotalSeconds, ContractVersion,
                new Checks(postgres, new Probe(redisProbe.Status, Round(redisProbe.LatencyMs))));
        }

        private async Task<Probe> ProbePostgresAsync(CancellationToken cancellationToken)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            var started = Stopwatch.GetTimestamp();
            try
            {
                await using var command = dataSource.CreateCommand("SELECT 1");
                await command.ExecuteScalarAsync(timeout.Token);
                return new Probe("ok", Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds));
            }
            catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException or InvalidOperationException)
            {
                // Pooled connections to a server that went away are dead; drop them so the next probe
                // reconnects as soon as PostgreSQL is back.
                NpgsqlConnection.ClearAllPools();
                return new Probe("down", null);
            }
        }

        private static double? Round(double? value) => value is { } v ? Math.Round(v, 2) : null;
    }
}
