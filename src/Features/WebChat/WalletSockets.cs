using System.Collections.Concurrent;
using Freeside.Features.Common.Redis;
using StackExchange.Redis;

namespace Freeside.Features.WebChat;

/// <summary>
/// At most <see cref="ChatSocket.MaxSocketsPerWallet"/> open sockets per wallet across every replica: a lease per
/// socket in a Redis sorted set scored by its expiry, renewed while the socket lives, so a replica that dies
/// frees its leases within <see cref="LeaseFor"/>. Without Redis each replica counts its own sockets.
/// </summary>
public sealed class WalletSockets(RedisConnection redis, WebChatSettings settings, TimeProvider time)
{
    // Expired leases first, then the count, then the new lease: one atomic step, so two replicas cannot both take the third seat.
    private const string AcquireScript = """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
        if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        return 1
        """;

    private readonly ConcurrentDictionary<string, HashSet<Guid>> _local = new(StringComparer.Ordinal);

    public TimeSpan LeaseFor => settings.PingInterval * 3;

    private static RedisKey Key(string wallet) => "freeside:webchat:sockets:" + wallet;

    public async Task<bool> TryAcquireAsync(string wallet, Guid socket)
    {
        if (redis.TryGetDatabase(out var db))
        {
            try
            {
                var now = time.GetUtcNow().ToUnixTimeMilliseconds();
                var taken = (long)await db.ScriptEvaluateAsync(AcquireScript, [Key(wallet)],
                    [now, now + (long)LeaseFor.TotalMilliseconds, ChatSocket.MaxSocketsPerWallet, socket.ToString("N"), (long)LeaseFor.TotalMilliseconds]);
                return taken == 1;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // Fall through to this replica's own count.
            }
        }

        var set = _local.GetOrAdd(wallet, _ => []);
        lock (set)
        {
            if (set.Count >= ChatSocket.MaxSocketsPerWallet)
            {
                return false;
            }

            set.Add(socket);
            return true;
        }
    }

    public async Task RenewAsync(string wallet, Guid socket)
    {
        if (redis.TryGetDatabase(out var db))
        {
            try
            {
                var expiry = time.GetUtcNow().Add(LeaseFor).ToUnixTimeMilliseconds();
                await db.SortedSetAddAsync(Key(wallet), socket.ToString("N"), expiry, SortedSetWhen.Exists);
                await db.KeyExpireAsync(Key(wallet), LeaseFor);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // The lease lapses by itself; a lapsed lease only lets one more socket in.
            }
        }
    }

    public async Task ReleaseAsync(string wallet, Guid socket)
    {
        if (_local.TryGetValue(wallet, out var set))
        {
            lock (set)
            {
                set.Remove(socket);
            }
        }

        if (redis.TryGetDatabase(out var db))
        {
            try
            {
                await db.SortedSetRemoveAsync(Key(wallet), socket.ToString("N"));
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // Expires with its lease.
            }
        }
    }
}
