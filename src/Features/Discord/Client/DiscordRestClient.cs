using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Freeside.Features.Discord.Client;

public sealed record DiscordRequest(HttpMethod Method, string Path, string? JsonBody = null);

/// <summary>Discord's answer; <see cref="RateLimitedTimes"/> counts the 429s met (and waited out) on the way.</summary>
public sealed record DiscordResponse(int Status, string Body, int RateLimitedTimes)
{
    public bool IsSuccess => Status is >= 200 and < 300;
}

/// <summary>
/// Discord REST v10. Discord limits each route per bucket and tells us the bucket's state in the
/// X-RateLimit-* headers of every answer; requests of one bucket go one at a time and wait when
/// the last answer said the bucket is empty, so a 429 should never come. If one comes anyway
/// (another client of the same bot, or the global limit), its retry_after is honoured and the
/// request sent again, at most <see cref="MaxRateLimitRetries"/> times.
/// </summary>
public sealed class DiscordRestClient
{
    public const string HttpClientName = "discord-rest";
    public const int MaxRateLimitRetries = 3;

    private readonly HttpClient _http;
    private readonly string? _botToken;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, string> _bucketOfRoute = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private long _globalUntilTicks;
    private long _rateLimited;

    public DiscordRestClient(HttpClient http, string? botToken, TimeProvider time)
    {
        _http = http;
        _botToken = botToken;
        _time = time;
    }

    /// <summary>Every 429 this client has received.</summary>
    public long RateLimitedTotal => Interlocked.Read(ref _rateLimited);

    public async Task<DiscordResponse> SendAsync(DiscordRequest request, CancellationToken cancellationToken)
    {
        var route = RouteKey(request.Method, request.Path, out var major);
        var limited = 0;
        while (true)
        {
            var bucket = _buckets.GetOrAdd((_bucketOfRoute.TryGetValue(route, out var hash) ? hash : route) + "|" + major, _ => new Bucket());
            await bucket.Gate.WaitAsync(cancellationToken);
            try
            {
                await WaitAsync(bucket, cancellationToken);
                using var message = new HttpRequestMessage(request.Method, request.Path.TrimStart('/'));
                if (_botToken is not null && !IsWebhookRoute(request.Path))
                {
                    message.Headers.Authorization = new AuthenticationHeaderValue("Bot", _botToken);
                }

                if (request.JsonBody is not null)
                {
                    message.Content = new StringContent(request.JsonBody, Encoding.UTF8, "application/json");
                }

                using var response = await _http.SendAsync(message, cancellationToken);
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                Observe(route, major, bucket, response);
                if (response.StatusCode != HttpStatusCode.TooManyRequests)
                {
                    return new DiscordResponse((int)response.StatusCode, body, limited);
                }

                Interlocked.Increment(ref _rateLimited);
                limited++;
                var retryAfter = RetryAfter(response, body);
                if (IsGlobal(response, body))
                {
                    Interlocked.Exchange(ref _globalUntilTicks, (_time.GetUtcNow() + retryAfter).UtcTicks);
                }
                else
                {
                    bucket.Remaining = 0;
                    bucket.ResetAt = _time.GetUtcNow() + retryAfter;
                }

                if (limited > MaxRateLimitRetries)
                {
                    return new DiscordResponse(429, body, limited);
                }
            }
            finally
            {
                bucket.Gate.Release();
            }
        }
    }

    /// <summary>
    /// The bucket key of a route: the method and path with ids replaced, except the major
    /// parameters (channel, guild, webhook id and token), which Discord limits separately.
    /// </summary>
    public static string RouteKey(HttpMethod method, string path, out string major)
    {
        var segments = path.Split('?')[0].Trim('/').Split('/');
        var shape = new string[segments.Length];
        var majors = new List<string>();
        for (var i = 0; i < segments.Length; i++)
        {
            var previous = i > 0 ? segments[i - 1] : "";
            if (previous is "channels" or "guilds" or "webhooks" || (i >= 2 && segments[i - 2] == "webhooks"))
            {
                majors.Add(segments[i]);
                shape[i] = ":major";
            }
            else
            {
                shape[i] = segments[i].Length > 0 && segments[i].All(char.IsAsciiDigit) ? ":id" : segments[i];
            }
        }

        major = string.Join('/', majors);
        return method.Method + " /" + string.Join('/', shape);
    }

    private static bool IsWebhookRoute(string path) => path.TrimStart('/').StartsWith("webhooks/", StringComparison.Ordinal)
        || path.TrimStart('/').StartsWith("interactions/", StringComparison.Ordinal);

    private async Task WaitAsync(Bucket bucket, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var global = new DateTimeOffset(Interlocked.Read(ref _globalUntilTicks), TimeSpan.Zero);
        var until = global > now ? global : now;
        if (bucket.Remaining <= 0 && bucket.ResetAt > until)
        {
            until = bucket.ResetAt;
        }

        if (until > now)
        {
            await Task.Delay(until - now, _time, cancellationToken);
        }
    }

    private void Observe(string route, string major, Bucket bucket, HttpResponseMessage response)
    {
        if (Header(response, "X-RateLimit-Bucket") is { Length: > 0 } hash && !_bucketOfRoute.ContainsKey(route))
        {
            _bucketOfRoute[route] = hash;
            _buckets.TryAdd(hash + "|" + major, bucket);
        }

        if (Header(response, "X-RateLimit-Remaining") is { } remaining
            && int.TryParse(remaining, NumberStyles.Integer, CultureInfo.InvariantCulture, out var left)
            && Header(response, "X-RateLimit-Reset-After") is { } resetAfter
            && double.TryParse(resetAfter, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            bucket.Remaining = left;
            bucket.ResetAt = _time.GetUtcNow() + TimeSpan.FromSeconds(seconds);
        }
    }

    private static TimeSpan RetryAfter(HttpResponseMessage response, string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("retry_after", out var value)
                && value.TryGetDouble(out var seconds) && seconds >= 0)
            {
                return TimeSpan.FromSeconds(Math.Min(seconds, 3600));
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy in front of Discord, e.g. Cloudflare): fall back to the header.
        }

        return Header(response, "Retry-After") is { } header && double.TryParse(header, NumberStyles.Float, CultureInfo.InvariantCulture, out var after)
            ? TimeSpan.FromSeconds(Math.Min(after, 3600))
            : TimeSpan.FromSeconds(1);
    }

    private static bool IsGlobal(HttpResponseMessage response, string body)
    {
        if (Header(response, "X-RateLimit-Global") is "true")
        {
            return true;
        }

        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("global", out var global)
                && global.ValueKind == JsonValueKind.True;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    private sealed class Bucket
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public int Remaining { get; set; } = 1;

        public DateTimeOffset ResetAt { get; set; }
    }
}
