namespace Freeside.Features.Common.RateLimiting;

public enum RateLimitAlgorithm
{
    /// <summary>At most <see cref="RateLimitPolicy.Limit"/> in any <see cref="RateLimitPolicy.Window"/> (exact sliding log).</summary>
    SlidingWindow,

    /// <summary>Refills <see cref="RateLimitPolicy.Limit"/> per <see cref="RateLimitPolicy.Window"/>, holds at most <see cref="RateLimitPolicy.Burst"/>.</summary>
    TokenBucket,
}

/// <summary>
/// A named limit. Callers pick a policy and a key (a client IP, a wallet, an API key, a community);
/// the same policy applies to every key, each key has its own count.
/// </summary>
public sealed record RateLimitPolicy(string Name, RateLimitAlgorithm Algorithm, int Limit, TimeSpan Window, int Burst = 0)
{
    /// <summary>What a client may do at once: the bucket's size, or the window's limit.</summary>
    public int Capacity => Algorithm == RateLimitAlgorithm.TokenBucket ? Burst : Limit;

    /// <summary>The environment variable that overrides this policy, e.g. FREESIDE_RATE_LIMIT_SIWE_NONCE.</summary>
    public string SettingName => "FREESIDE_RATE_LIMIT_" + Name.ToUpperInvariant().Replace('-', '_');

    /// <summary>As the setting is written: 100/60s,burst=20 or 20/300s.</summary>
    public string Describe() =>
        $"{Limit}/{(int)Window.TotalSeconds}s" + (Algorithm == RateLimitAlgorithm.TokenBucket ? $",burst={Burst}" : "");
}

/// <summary>The policies Freeside applies, with their defaults. Later limits (chat, API keys, webhooks) add theirs here.</summary>
public static class RateLimitPolicies
{
    /// <summary>Requests that present no credentials, per client IP.</summary>
    public const string Anonymous = "anonymous";

    /// <summary>GET /api/v1/auth/nonce, per client IP.</summary>
    public const string SiweNonce = "siwe-nonce";

    /// <summary>POST /api/v1/auth/siwe, per client IP.</summary>
    public const string SiweSignInPerIp = "siwe-sign-in-ip";

    /// <summary>POST /api/v1/auth/siwe, per wallet address named in the message.</summary>
    public const string SiweSignInPerAddress = "siwe-sign-in-address";

    /// <summary>
    /// Signed provider webhooks (NOWPayments IPNs), per client IP, instead of the anonymous bucket: a
    /// provider retries bursts from few addresses, and every request is checked by its signature.
    /// </summary>
    public const string Webhook = "webhook";

    /// <summary>
    /// Every Discord write of every replica, one shared key. Discord's global limit is 50 requests/s per bot.
    /// A token bucket of 40/s with a burst of 5 lets at most 45 go in any second, and spaces them (one every
    /// 25 ms) instead of letting a whole second's worth leave at once: a sliding window of 45/s did, and when
    /// such a burst was held up on the way (connection pool, thread pool) it landed in the next second's
    /// window at Discord's end together with that second's own requests — 52 in a second, and a 429.
    /// </summary>
    public const string DiscordGlobal = "discord-global";

    public static readonly IReadOnlyList<RateLimitPolicy> Defaults =
    [
        new(Anonymous, RateLimitAlgorithm.TokenBucket, 100, TimeSpan.FromMinutes(1), Burst: 20),
        new(SiweNonce, RateLimitAlgorithm.SlidingWindow, 20, TimeSpan.FromMinutes(5)),
        new(SiweSignInPerIp, RateLimitAlgorithm.SlidingWindow, 30, TimeSpan.FromMinutes(5)),
        new(SiweSignInPerAddress, RateLimitAlgorithm.SlidingWindow, 10, TimeSpan.FromMinutes(5)),
        new(Webhook, RateLimitAlgorithm.TokenBucket, 6000, TimeSpan.FromMinutes(1), Burst: 1000),
        new(DiscordGlobal, RateLimitAlgorithm.TokenBucket, 40, TimeSpan.FromSeconds(1), Burst: 5),

        // Chat with agents (seed 001 §5): per access level, community / user / channel per minute and a per-user burst bucket.
        .. Chat("free", 60, 10, 20, 3),
        .. Chat("pro", 300, 30, 60, 5),
        .. Chat("enterprise", 1000, 100, 200, 10),
    ];

    /// <summary>The chat policy of one dimension (community, user, channel, burst) for one access level, e.g. chat-user-pro.</summary>
    public static string ChatPolicy(string dimension, string tier) => $"chat-{dimension}-{tier}";

    private static RateLimitPolicy[] Chat(string tier, int community, int user, int channel, int burst) =>
    [
        new(ChatPolicy("community", tier), RateLimitAlgorithm.SlidingWindow, community, TimeSpan.FromMinutes(1)),
        new(ChatPolicy("user", tier), RateLimitAlgorithm.SlidingWindow, user, TimeSpan.FromMinutes(1)),
        new(ChatPolicy("channel", tier), RateLimitAlgorithm.SlidingWindow, channel, TimeSpan.FromMinutes(1)),
        new(ChatPolicy("burst", tier), RateLimitAlgorithm.TokenBucket, user, TimeSpan.FromMinutes(1), Burst: burst),
    ];
}
