using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text.Json;
using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

namespace Freeside.Features.Identity.Keys;

/// <summary>
/// The signing keys in memory: the active private key and every published public key by exact kid,
/// plus the JWKS document and its ETag. Reloaded from jwks_keys every minute, right after a rotation
/// on this replica, and (at most once a second) when a token names a kid it does not know.
/// A revoked kid leaves this replica's key set the moment <see cref="Revoke"/> is called and never
/// comes back; other replicas drop it at their next reload (within <see cref="RefreshInterval"/>),
/// or at once when Redis carries the revocation to them.
/// </summary>
public sealed partial class SigningKeyRing(
    IServiceScopeFactory scopes,
    KeyProtector protector,
    IdentitySettings settings,
    TimeProvider time,
    ILogger<SigningKeyRing> logger) : IDisposable
{
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan UnknownKidRefreshInterval = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan RevocationCommitWindow = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _swap = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _revoked = new(StringComparer.Ordinal);
    private KeySnapshot? _snapshot;
    // Staleness as versions, not a flag: a reload clears only the marks it started after, so a read
    // that arrives while a reload is in flight still waits for a current key set.
    private long _wantedVersion = 1;
    private long _loadedVersion;
    private long _lastLoadTicks;
    private int _backgroundRefresh;

    /// <summary>The snapshot in hand, without waiting; null before the first load.</summary>
    public KeySnapshot? Current
    {
        get
        {
            var snapshot = _snapshot;
            if (snapshot is not null && (IsStale || time.GetUtcNow() - snapshot.LoadedAt > RefreshInterval))
            {
                RefreshInBackground();
            }

            return snapshot;
        }
    }

    public async ValueTask<KeySnapshot> GetAsync(CancellationToken cancellationToken)
    {
        var snapshot = _snapshot;
        if (snapshot is null || IsStale)
        {
            return await RefreshAsync(cancellationToken, onlyIfStale: true);
        }

        if (time.GetUtcNow() - snapshot.LoadedAt > RefreshInterval)
        {
            RefreshInBackground();
        }

        return snapshot;
    }

    /// <summary>A token named a kid we do not hold: maybe another replica rotated. Reload, at most once a second.</summary>
    public async ValueTask<KeySnapshot?> RefreshForUnknownKidAsync(CancellationToken cancellationToken)
    {
        var last = Interlocked.Read(ref _lastLoadTicks);
        if (_snapshot is not null && time.GetUtcNow().UtcTicks - last < UnknownKidRefreshInterval.Ticks)
        {
            return _snapshot;
        }

        return await RefreshAsync(cancellationToken);
    }

    /// <summary>Forces the next read to reload (after a rotation).</summary>
    public void MarkStale() => Interlocked.Increment(ref _wantedVersion);

    private bool IsStale => Volatile.Read(ref _loadedVersion) != Volatile.Read(ref _wantedVersion);

    /// <summary>Takes a kid out of this replica's key set now: no longer published, no token signed by it verifies.</summary>
    public void Revoke(string kid)
    {
        bool changed;
        lock (_swap)
        {
            changed = _revoked.TryAdd(kid, time.GetUtcNow());
            if (_snapshot is { } snapshot && snapshot.Published.ContainsKey(kid))
            {
                _snapshot = Build(snapshot.Keys.Where(k => k.Jwk.Kid != kid).ToList(), snapshot.Active?.Kid == kid ? null : snapshot.Active, snapshot.LoadedAt);
                changed = true;
            }
        }

        // A repeat (this replica's own pub/sub message) changes nothing and forces no reload.
        if (changed)
        {
            MarkStale();
        }
    }

    public Task<KeySnapshot> RefreshAsync(CancellationToken cancellationToken) => RefreshAsync(cancellationToken, onlyIfStale: false);

    private async Task<KeySnapshot> RefreshAsync(CancellationToken cancellationToken, bool onlyIfStale)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (onlyIfStale && _snapshot is { } current && !IsStale)
            {
                return current;
            }

            var version = Volatile.Read(ref _wantedVersion);
            var loaded = await LoadAsync(cancellationToken);
            lock (_swap)
            {
                // A revocation that landed while this load was reading must not be undone by it.
                var snapshot = loaded.Keys.Any(k => _revoked.ContainsKey(k.Jwk.Kid))
                    ? Build(loaded.Keys.Where(k => !_revoked.ContainsKey(k.Jwk.Kid)).ToList(),
                        loaded.Active is { } a && _revoked.ContainsKey(a.Kid) ? null : loaded.Active, loaded.LoadedAt)
                    : loaded;
                _snapshot = snapshot;
                Volatile.Write(ref _loadedVersion, version);
                Interlocked.Exchange(ref _lastLoadTicks, snapshot.LoadedAt.UtcTicks);

                // The database still shows a key revoked here as live: the revoking transaction has not
                // committed yet (or rolled back). Read again next time, so its replacement key is seen
                // as soon as it commits rather than at the next minute's reload.
                if (loaded.Keys.Any(k => _revoked.TryGetValue(k.Jwk.Kid, out var at) && loaded.LoadedAt - at < RevocationCommitWindow))
                {
                    MarkStale();
                }

                return snapshot;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private void RefreshInBackground()
    {
        if (Interlocked.Exchange(ref _backgroundRefresh, 1) == 1)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await RefreshAsync(CancellationToken.None);
            }
#pragma warning disable CA1031 // A failed background reload keeps the last good key set; the next read retries.
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogRefreshFailed(logger, e);
            }
            finally
            {
                Interlocked.Exchange(ref _backgroundRefresh, 0);
            }
        });
    }

    private async Task<KeySnapshot> LoadAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var publishedSince = now - settings.RetiredKeyGrace;
        List<SigningKey> rows;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<FreesideDb>();
            rows = await db.Set<SigningKey>().AsNoTracking()
                .Where(k => k.RevokedAt == null && (k.RetiredAt == null || k.RetiredAt > publishedSince))
                .OrderByDescending(k => k.ActivatedAt)
                .ToListAsync(cancellationToken);
        }

        ActiveSigningKey? active = null;
        var keys = new List<PublishedKey>();
        foreach (var row in rows)
        {
            var jwk = JsonSerializer.Deserialize<PublicJwk>(row.PublicJwk, PublicJwkJson.Options)!;
            keys.Add(new PublishedKey(jwk, new ECDsaSecurityKey(SigningKeyMaterial.PublicKey(jwk)) { KeyId = row.Kid }));
            if (row.RetiredAt is not null)
            {
                continue;
            }

            if (row.KekId != protector.KekId || protector.TryOpen(row.PrivateKeyCiphertext, row.Kid) is not { } d)
            {
                LogActiveKeySealedElsewhere(logger, row.Kid, row.KekId);
                continue;
            }

            try
            {
                var privateKey = new ECDsaSecurityKey(SigningKeyMaterial.PrivateKey(jwk, d)) { KeyId = row.Kid };
                active = new ActiveSigningKey(row.Kid, row.ActivatedAt, new SigningCredentials(privateKey, SecurityAlgorithms.EcdsaSha256));
            }
            finally
            {
                CryptographicOperations.ZeroMemory(d);
            }
        }

        return Build(keys, active, now);
    }

    private static KeySnapshot Build(IReadOnlyList<PublishedKey> keys, ActiveSigningKey? active, DateTimeOffset loadedAt)
    {
        var document = JsonSerializer.SerializeToUtf8Bytes(new { keys = keys.Select(k => k.Jwk) }, PublicJwkJson.Options);
        var etag = "\"" + Base64UrlEncoder.Encode(SHA256.HashData(document)) + "\"";
        return new KeySnapshot(active, keys, document, etag, loadedAt);
    }

    public void Dispose() => _gate.Dispose();

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "Reloading the signing keys failed; keeping the previous key set")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Error,
        Message = "The active signing key {Kid} was sealed under another key-encryption key ({KekId}); it cannot sign until a rotation replaces it")]
    private static partial void LogActiveKeySealedElsewhere(ILogger logger, string kid, string kekId);
}

public sealed record ActiveSigningKey(string Kid, DateTimeOffset ActivatedAt, SigningCredentials Credentials);

public sealed record PublishedKey(PublicJwk Jwk, ECDsaSecurityKey Key);

public sealed class KeySnapshot(
    ActiveSigningKey? active,
    IReadOnlyList<PublishedKey> keys,
    byte[] jwksDocument,
    string etag,
    DateTimeOffset loadedAt)
{
    public ActiveSigningKey? Active { get; } = active;

    public IReadOnlyList<PublishedKey> Keys { get; } = keys;

    public FrozenDictionary<string, ECDsaSecurityKey> Published { get; } =
        keys.ToFrozenDictionary(k => k.Jwk.Kid, k => k.Key, StringComparer.Ordinal);

    public byte[] JwksDocument { get; } = jwksDocument;

    /// <summary>Strong validator: the base64url SHA-256 of the exact document bytes.</summary>
    public string ETag { get; } = etag;

    public DateTimeOffset LoadedAt { get; } = loadedAt;
}
