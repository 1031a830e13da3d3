using Microsoft.IdentityModel.Tokens;

namespace Freeside.FinnStub;

/// <summary>
/// Freeside's public keys as finn holds them: cached for 5 minutes, refetched at most once a
/// second when a token names a kid the cache lacks.
/// </summary>
public sealed class JwksCache(IHttpClientFactory httpClients, StubSettings settings, TimeProvider time)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan UnknownKidBackoff = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IReadOnlyDictionary<string, SecurityKey> _keys = new Dictionary<string, SecurityKey>();
    private DateTimeOffset _fetchedAt = DateTimeOffset.MinValue;
    private DateTimeOffset _lastAttempt = DateTimeOffset.MinValue;

    public bool IsLoaded => _fetchedAt != DateTimeOffset.MinValue;

    public async Task<SecurityKey?> FindAsync(string? kid, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(kid))
        {
            return null;
        }

        var stale = time.GetUtcNow() - _fetchedAt > Lifetime;
        if (stale || !_keys.ContainsKey(kid))
        {
            await RefreshAsync(force: stale, cancellationToken);
        }

        return _keys.GetValueOrDefault(kid);
    }

    public async Task RefreshAsync(bool force, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var now = time.GetUtcNow();
            if (!force && now - _lastAttempt < UnknownKidBackoff)
            {
                return;
            }

            _lastAttempt = now;
            try
            {
                var json = await httpClients.CreateClient("jwks").GetStringAsync(settings.JwksUrl, cancellationToken);
                var set = new JsonWebKeySet(json);
                _keys = set.Keys
                    .Where(k => k.Kty == "EC" && k.Crv == "P-256" && !string.IsNullOrEmpty(k.Kid) && !k.HasPrivateKey)
                    .ToDictionary(k => k.Kid, k => (SecurityKey)k, StringComparer.Ordinal);
                _fetchedAt = now;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or ArgumentException or System.Text.Json.JsonException)
            {
                // Keep serving with the keys we had; a later request retries.
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}
