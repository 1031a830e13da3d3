using Freeside.Features.Common.RateLimiting;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Freeside.Features.Common.Configuration;

/// <summary>
/// Every setting the host needs, read from environment-style names (as in the seeds) and checked
/// once at start-up. A bad value stops the process with one line naming the setting.
/// </summary>
public sealed record FreesideSettings
{
    public required string DatabaseConnectionString { get; init; }

    /// <summary>The owner role, for `migrate` and Development start-up only; DATABASE_URL stands in for it in Development alone.</summary>
    public string? MigrationConnectionString { get; init; }

    public string? RedisConfiguration { get; init; }

    /// <summary>REDIS_KEY_PREFIX: put before every key and channel, so deployments (or test hosts) can share one Redis.</summary>
    public string? RedisKeyPrefix { get; init; }

    public required string AdminToken { get; init; }

    public required IReadOnlyList<Uri> PublicUrls { get; init; }

    public required IReadOnlyList<Uri> ManagementUrls { get; init; }

    public long MaxRequestBodyBytes { get; init; } = 1024 * 1024;

    public Uri? OtlpEndpoint { get; init; }

    /// <summary>Each capability's own settings record, loaded by its <see cref="ICapability"/>.</summary>
    public IReadOnlyList<object> CapabilitySettings { get; init; } = [];

    public RateLimitSettings RateLimits { get; init; } = RateLimitSettings.Default;

    /// <summary>
    /// Outside Development every new database connection is checked to be a role row-level security
    /// holds (<see cref="Persistence.DatabaseRoleGuard"/>), not only the one at start-up.
    /// </summary>
    public bool RequireLeastPrivilegeRole { get; init; }

    /// <summary>Whether this process runs the Quartz scheduler (tests turn it off).</summary>
    public bool JobsEnabled { get; init; } = true;

    public static SettingsResult Load(IConfiguration configuration, bool isDevelopment)
    {
        var errors = new List<string>();

        var database = Required(configuration, "DATABASE_URL", errors) is { } raw ? ParsePostgres("DATABASE_URL", raw, errors) : null;
        // Outside Development no fallback to DATABASE_URL: that default is how a service ends up serving
        // as the owner, whom row-level security does not hold. `migrate` then needs the owner named.
        var migration = configuration["DATABASE_MIGRATION_URL"] is { Length: > 0 } rawMigration
            ? ParsePostgres("DATABASE_MIGRATION_URL", rawMigration, errors)
            : isDevelopment ? database : null;
        var redis = configuration["REDIS_URL"] is { Length: > 0 } rawRedis ? ParseRedis(rawRedis, errors) : null;
        var redisKeyPrefix = configuration["REDIS_KEY_PREFIX"] is { Length: > 0 } rawPrefix ? rawPrefix : null;
        if (redisKeyPrefix is not null && (redisKeyPrefix.Length > 64 || redisKeyPrefix.Any(char.IsWhiteSpace)))
        {
            errors.Add("REDIS_KEY_PREFIX: at most 64 characters, no spaces");
        }

        var adminToken = Required(configuration, "FREESIDE_ADMIN_TOKEN", errors);
        if (adminToken is not null && adminToken.Length < (isDevelopment ? 16 : 32))
        {
            errors.Add($"FREESIDE_ADMIN_TOKEN: must be at least {(isDevelopment ? 16 : 32)} characters");
        }

        var publicUrls = ParseUrls("FREESIDE_URLS", configuration["FREESIDE_URLS"] ?? "http://127.0.0.1:5080", errors);
        var managementUrls = ParseUrls("FREESIDE_MANAGEMENT_URLS", configuration["FREESIDE_MANAGEMENT_URLS"] ?? "http://127.0.0.1:5090", errors);
        if (publicUrls.Any(p => managementUrls.Any(m => m.Port == p.Port)))
        {
            errors.Add("FREESIDE_MANAGEMENT_URLS: must use a different port from FREESIDE_URLS, so /metrics never reaches the public listener");
        }

        long maxBody = 1024 * 1024;
        if (configuration["FREESIDE_MAX_REQUEST_BODY_BYTES"] is { Length: > 0 } rawMax
            && (!long.TryParse(rawMax, out maxBody) || maxBody < 1024 || maxBody > 64L * 1024 * 1024))
        {
            errors.Add("FREESIDE_MAX_REQUEST_BODY_BYTES: must be a whole number of bytes from 1024 to 67108864");
        }

        Uri? otlp = null;
        if (configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] is { Length: > 0 } rawOtlp
            && (!Uri.TryCreate(rawOtlp, UriKind.Absolute, out otlp) || otlp.Scheme is not ("http" or "https")))
        {
            errors.Add("OTEL_EXPORTER_OTLP_ENDPOINT: must be an absolute http(s) URL");
        }

        var capabilitySettings = new List<object>();
        foreach (var capability in Capabilities.All)
        {
            if (capability.LoadSettings(configuration, isDevelopment, errors) is { } loaded)
            {
                capabilitySettings.Add(loaded);
            }
        }

        var rateLimits = RateLimitSettings.Load(configuration, errors);
        var jobsEnabled = true;
        if (configuration["FREESIDE_JOBS_ENABLED"] is { Length: > 0 } rawJobs && !bool.TryParse(rawJobs, out jobsEnabled))
        {
            errors.Add("FREESIDE_JOBS_ENABLED: must be true or false");
        }

        if (errors.Count > 0)
        {
            return new SettingsResult(null, errors);
        }

        return new SettingsResult(new FreesideSettings
        {
            DatabaseConnectionString = database!,
            MigrationConnectionString = migration,
            RedisConfiguration = redis,
            RedisKeyPrefix = redisKeyPrefix,
            AdminToken = adminToken!,
            PublicUrls = publicUrls,
            ManagementUrls = managementUrls,
            MaxRequestBodyBytes = maxBody,
            OtlpEndpoint = otlp,
            CapabilitySettings = capabilitySettings,
            RateLimits = rateLimits,
            JobsEnabled = jobsEnabled,
            RequireLeastPrivilegeRole = !isDevelopment,
        }, errors);
    }

    /// <summary>The settings record a capability loaded, by its type.</summary>
    public T Capability<T>()
        where T : class =>
        CapabilitySettings.OfType<T>().SingleOrDefault()
            ?? throw new InvalidOperationException($"No capability loaded settings of type {typeof(T).Name}.");

    private static string? Required(IConfiguration configuration, string name, List<string> errors)
    {
        var value = configuration[name];
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add($"{name}: is required");
            return null;
        }

        return value;
    }

    /// <summary>Accepts postgres://user:password@host:port/database?sslmode=… or an Npgsql key=value string.</summary>
    public static string? ParsePostgres(string name, string raw, List<string> errors)
    {
        const string expected = "expected postgres://user:password@host:port/database";
        try
        {
            NpgsqlConnectionStringBuilder builder;
            if (raw.StartsWith("postgres://", StringComparison.Ordinal) || raw.StartsWith("postgresql://", StringComparison.Ordinal))
            {
                var uri = new Uri(raw);
                var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
                if (string.IsNullOrEmpty(uri.Host) || string.IsNullOrEmpty(database))
                {
                    errors.Add($"{name}: names no host or database; {expected}");
                    return null;
                }

                builder = new NpgsqlConnectionStringBuilder
                {
                    Host = uri.Host,
                    Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
                    Database = database,
                };
                var userInfo = uri.UserInfo.Split(':', 2);
                if (userInfo[0].Length > 0)
                {
                    builder.Username = Uri.UnescapeDataString(userInfo[0]);
                }

                if (userInfo.Length == 2)
                {
                    builder.Password = Uri.UnescapeDataString(userInfo[1]);
                }

                foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
                {
                    var parts = pair.Split('=', 2);
                    var key = Uri.UnescapeDataString(parts[0]);
                    var value = parts.Length == 2 ? Uri.UnescapeDataString(parts[1]) : "";
                    builder[key.Equals("sslmode", StringComparison.OrdinalIgnoreCase) ? "SSL Mode" : key] = value;
                }
            }
            else if (raw.Contains('=', StringComparison.Ordinal))
            {
                builder = new NpgsqlConnectionStringBuilder(raw);
                if (string.IsNullOrEmpty(builder.Host))
                {
                    errors.Add($"{name}: names no host; {expected}");
                    return null;
                }
            }
            else
            {
                errors.Add($"{name}: is not a PostgreSQL URL; {expected}");
                return null;
            }

            return builder.ConnectionString;
        }
        catch (Exception e) when (e is UriFormatException or ArgumentException or FormatException or KeyNotFoundException)
        {
            errors.Add($"{name}: is not a PostgreSQL URL ({e.GetType().Name}); {expected}");
            return null;
        }
    }

    /// <summary>redis://[:password@]host:port[/db] → a StackExchange.Redis configuration string.</summary>
    internal static string? ParseRedis(string raw, List<string> errors)
    {
        if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || uri.Scheme is not ("redis" or "rediss") || string.IsNullOrEmpty(uri.Host))
        {
            errors.Add("REDIS_URL: is not a Redis URL; expected redis://[:password@]host:port[/db]");
            return null;
        }

        var parts = new List<string> { $"{uri.Host}:{(uri.Port > 0 ? uri.Port : 6379)}" };
        var password = uri.UserInfo.Contains(':', StringComparison.Ordinal) ? uri.UserInfo.Split(':', 2)[1] : uri.UserInfo;
        if (password.Length > 0)
        {
            parts.Add("password=" + Uri.UnescapeDataString(password));
        }

        if (uri.AbsolutePath.Trim('/') is { Length: > 0 } db)
        {
            if (!int.TryParse(db, out var index) || index < 0)
            {
                errors.Add("REDIS_URL: the database after the last '/' must be a number");
                return null;
            }

            parts.Add("defaultDatabase=" + index);
        }

        if (uri.Scheme == "rediss")
        {
            parts.Add("ssl=true");
        }

        return string.Join(',', parts);
    }

    private static List<Uri> ParseUrls(string name, string raw, List<string> errors)
    {
        var urls = new List<Uri>();
        foreach (var item in raw.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(item, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                errors.Add($"{name}: '{item}' is not an http(s) URL");
                continue;
            }

            urls.Add(uri);
        }

        if (urls.Count == 0 && !errors.Any(e => e.StartsWith(name, StringComparison.Ordinal)))
        {
            errors.Add($"{name}: names no URL");
        }

        return urls;
    }
}

public sealed record SettingsResult(FreesideSettings? Settings, IReadOnlyList<string> Errors);
