using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using Freeside.Features.Common.Observability;
using Npgsql;

namespace Freeside.Features.Developers;

/// <summary>What a verified key may do; cached per key id, never holding the secret.</summary>
public sealed record VerifiedKey(
    string Id, Guid DeveloperId, string Wallet, string Tier, bool Live, int RequestsPerMinute, int TokensPerDay,
    DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt, byte[] Salt, byte[] SecretHash, int PepperVersion);

public enum KeyCheck
{
    Valid,
    Malformed,
    Unknown,
    Mismatch,
    Revoked,
    Expired,
}

/// <summary>
/// Verifies presented API keys: parse (a malformed key never reaches the database) → the key's row by
/// id, cached (known ids 60 s, unknown ids also 60 s, so a flood of made-up ids costs one query each a
/// minute) → HMAC-SHA256(pepper of the row's version, salt ‖ secret) compared in constant time. A key
/// deleted or rotated anywhere is dropped from every replica's cache by <see cref="ApiKeyChanges"/>;
/// the 60 s lifetime bounds a replica that missed that message.
/// </summary>
public sealed class ApiKeyVerifier
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(60);
    private const int MaxCachedIds = 100_000;

    private readonly ConcurrentDictionary<string, CacheEntry> _cache = new(StringComparer.Ordinal);
    private readonly NpgsqlDataSource _database;
    private readonly DevelopersSettings _settings;
    private readonly TimeProvider _time;
    private readonly Counter<long> _lookups;
    private long _lookupCount;

    public ApiKeyVerifier(NpgsqlDataSource database, DevelopersSettings settings, TimeProvider time, IMeterFactory meters)
    {
        _database = database;
        _settings = settings;
        _time = time;
        _lookups = meters.Create(FreesideMetrics.MeterName).CreateCounter<long>("freeside.api_keys.lookups", null,
            "API key rows read from PostgreSQL (cache misses, known or unknown ids).");
    }

    /// <summary>How many times a key id was looked up in PostgreSQL (tests prove malformed keys never are).</summary>
    public long DatabaseLookups => Interlocked.Read(ref _lookupCount);

    private sealed class CacheEntry(Task<VerifiedKey?> load, long expiresAt)
    {
        public Task<VerifiedKey?> Load { get; } = load;

        public long ExpiresAt { get; } = expiresAt;

        /// <summary>
        /// The secret that last passed the HMAC, kept for the entry's life (like the session-token cache), so a warm
        /// key costs one constant-time comparison instead of an HMAC. Any other secret still goes through the HMAC.
        /// </summary>
        public volatile byte[]? Verified;
    }

    public async ValueTask<(KeyCheck Check, VerifiedKey? Key)> VerifyAsync(string? presented, CancellationToken cancellationToken)
    {
        if (presented is null || !ApiKeyFormat.TryParse(presented, out var parsed))
        {
            return (KeyCheck.Malformed, null);
        }

        var entry = await FindAsync(parsed.Id, cancellationToken);
        var key = entry.Load.Result;
        if (key is null)
        {
            return (KeyCheck.Unknown, null);
        }

        if (key.Live != parsed.Live || !SecretMatches(entry, key, parsed.Secret))
        {
            return (KeyCheck.Mismatch, null);
        }

        if (key.RevokedAt is not null)
        {
            return (KeyCheck.Revoked, key);
        }

        return key.ExpiresAt is { } expires && expires <= _time.GetUtcNow() ? (KeyCheck.Expired, key) : (KeyCheck.Valid, key);
    }

    /// <summary>HMAC-SHA256(pepper, salt ‖ secret) with the given pepper version; the secret is ASCII (base62).</summary>
    public static byte[] Hash(byte[] pepper, ReadOnlySpan<byte> salt, string secret)
    {
        Span<byte> input = stackalloc byte[salt.Length + secret.Length];
        salt.CopyTo(input);
        Encoding.ASCII.GetBytes(secret, input[salt.Length..]);
        return HMACSHA256.HashData(pepper, input);
    }

    public void Forget(string keyId) => _cache.TryRemove(keyId, out _);

    public void ForgetDeveloper(Guid developerId)
    {
        foreach (var (id, entry) in _cache)
        {
            if (entry.Load.IsCompletedSuccessfully && entry.Load.Result?.DeveloperId == developerId)
            {
                _cache.TryRemove(id, out _);
            }
        }
    }

    private bool SecretMatches(CacheEntry entry, VerifiedKey key, string secret)
    {
        Span<byte> presented = stackalloc byte[secret.Length];
        Encoding.ASCII.GetBytes(secret, presented);
        if (entry.Verified is { } verified && CryptographicOperations.FixedTimeEquals(verified, presented))
        {
            return true;
        }

        if (!_settings.Peppers.TryGetValue(key.PepperVersion, out var pepper))
        {
            // The pepper this key was made with is no longer configured: the key cannot be verified.
            return false;
        }

        Span<byte> input = stackalloc byte[key.Salt.Length + secret.Length];
        key.Salt.CopyTo(input);
        presented.CopyTo(input[key.Salt.Length..]);
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(pepper, input, mac);
        if (!CryptographicOperations.FixedTimeEquals(mac, key.SecretHash))
        {
            return false;
        }

        entry.Verified = presented.ToArray();
        return true;
    }

    private async ValueTask<CacheEntry> FindAsync(string id, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        if (_cache.TryGetValue(id, out var cached) && cached.ExpiresAt > now && !cached.Load.IsFaulted && !cached.Load.IsCanceled)
        {
            await cached.Load.WaitAsync(cancellationToken);
            return cached;
        }

        if (_cache.Count >= MaxCachedIds)
        {
            _cache.Clear();
        }

        var entry = new CacheEntry(LoadAsync(id), now + (long)(CacheLifetime.TotalSeconds * _time.TimestampFrequency));
        _cache[id] = entry;
        try
        {
            await entry.Load.WaitAsync(cancellationToken);
            return entry;
        }
        catch (Exception) when (!entry.Load.IsCompletedSuccessfully)
        {
            _cache.TryRemove(KeyValuePair.Create(id, entry));
            throw;
        }
    }

    private async Task<VerifiedKey?> LoadAsync(string id)
    {
        Interlocked.Increment(ref _lookupCount);
        _lookups.Add(1);
        await using var command = _database.CreateCommand("""
            SELECT k.developer_id, d.wallet, d.tier, k.mode, k.requests_per_minute, k.tokens_per_day, k.expires_at, k.revoked_at,
                   k.salt, k.secret_hash, k.pepper_version
            FROM api_keys k JOIN developers d ON d.id = k.developer_id
            WHERE k.id = @id
            """);
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync(CancellationToken.None);
        if (!await reader.ReadAsync(CancellationToken.None))
        {
            return null;
        }

        return new VerifiedKey(id, reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetString(3) == "live",
            reader.GetInt32(4), reader.GetInt32(5),
            reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
            reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
            (byte[])reader[8], (byte[])reader[9], reader.GetInt32(10));
    }
}
