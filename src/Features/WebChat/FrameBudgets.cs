using System.Collections.Concurrent;

namespace Freeside.Features.WebChat;

/// <summary>
/// A token bucket per session (all of its sockets on this replica): <see cref="WebChatSettings.FrameBurst"/> frames at
/// once, refilled at <see cref="WebChatSettings.FramesPerMinute"/>. A socket that floods past it is closed (1008);
/// chats themselves are also held to the chat service's own Redis limits.
/// </summary>
public sealed class FrameBudgets(WebChatSettings settings, TimeProvider time)
{
    private readonly ConcurrentDictionary<Guid, Bucket> _buckets = new();
    private long _takes;

    public bool TryTake(Guid session)
    {
        var now = time.GetTimestamp();
        if (Interlocked.Increment(ref _takes) % 4096 == 0)
        {
            foreach (var (key, stale) in _buckets)
            {
                if (time.GetElapsedTime(stale.Updated, now) > TimeSpan.FromHours(1))
                {
                    _buckets.TryRemove(key, out _);
                }
            }
        }

        var bucket = _buckets.GetOrAdd(session, _ => new Bucket { Tokens = settings.FrameBurst, Updated = now });
        lock (bucket)
        {
            var refill = time.GetElapsedTime(bucket.Updated, now).TotalMinutes * settings.FramesPerMinute;
            bucket.Tokens = Math.Min(settings.FrameBurst, bucket.Tokens + refill);
            bucket.Updated = now;
            if (bucket.Tokens < 1)
            {
                return false;
            }

            bucket.Tokens -= 1;
            return true;
        }
    }

    private sealed class Bucket
    {
        public double Tokens { get; set; }

        public long Updated { get; set; }
    }
}
