using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Freeside.TelegramFake;

/// <summary>One Bot API call as the fake received it, with what it answered.</summary>
public sealed record FakeCall(string Method, string Token, JsonObject Parameters, DateTimeOffset At, int Status);

/// <summary>
/// A local stand-in for the Telegram Bot API (https://core.telegram.org/bots/api) speaking its wire
/// protocol: POST /bot{token}/{method} with JSON or form parameters, answered {ok, result} or
/// {ok:false, error_code, description, parameters:{retry_after}}. It keeps each chat's messages,
/// refuses what Telegram refuses (text over 4,096 characters, an edit that changes nothing), can
/// answer 429 with retry_after on demand, and plays users: /fake/users/{id}/messages delivers an
/// update to the webhook set with setWebhook (with its secret token) or to getUpdates.
/// Used by the tests and by `./build.sh run` when no bot token is set.
/// </summary>
public sealed class FakeBotApi : IAsyncDisposable
{
    public const int MaxTextLength = 4096;
    public const long BotId = 7000000001;

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<FakeCall> _calls = new();
    private readonly ConcurrentDictionary<long, ConcurrentDictionary<int, string>> _chats = new();
    private readonly ConcurrentQueue<(string Method, int RetryAfter)> _faults = new();
    private readonly List<JsonObject> _pending = [];
    private readonly SemaphoreSlim _arrived = new(0);
    private readonly HttpClient _webhookClient = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly Lock _gate = new();
    private int _nextMessageId = 100;
    private long _nextUpdateId = 5000;

    private FakeBotApi(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = "";

    /// <summary>The webhook Freeside set (setWebhook), or null.</summary>
    public string? WebhookUrl { get; private set; }

    public string? WebhookSecret { get; private set; }

    public IReadOnlyList<FakeCall> Calls => [.. _calls];

    public IEnumerable<FakeCall> CallsOf(string method) => _calls.Where(c => c.Method == method);

    /// <summary>The current text of each message the bot has in a chat, by message id.</summary>
    public IReadOnlyDictionary<int, string> Messages(long chatId) =>
        _chats.TryGetValue(chatId, out var chat) ? new SortedDictionary<int, string>(chat) : new SortedDictionary<int, string>();

    /// <summary>The next call of <paramref name="method"/> is answered 429 with this retry_after (seconds).</summary>
    public void FailNextWith429(string method, int retryAfterSeconds) => _faults.Enqueue((method, retryAfterSeconds));

    public static async Task<FakeBotApi> StartAsync(string url)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        var app = builder.Build();
        var fake = new FakeBotApi(app);
        // Not "/bot{token}/…": a complex segment matches its literal from the right, so a token containing "bot" would not match.
        app.MapPost("/{botToken}/{method}", fake.BotMethodAsync);
        app.MapGet("/{botToken}/{method}", fake.BotMethodAsync);
        app.MapPost("/fake/users/{userId:long}/messages", fake.UserMessageAsync);
        app.MapPost("/fake/users/{userId:long}/callbacks", fake.UserCallbackAsync);
        app.MapGet("/fake/chats/{chatId:long}/messages", (long chatId) => Results.Json(fake.Messages(chatId)
            .Select(m => new { message_id = m.Key, text = m.Value })));
        app.MapFallback((HttpContext context) =>
        {
            fake._calls.Enqueue(new FakeCall("unmatched " + context.Request.Method + " " + context.Request.Path, "", [], DateTimeOffset.UtcNow, 404));
            return Results.Content(Error(404, "Not Found").ToJsonString(), "application/json", Encoding.UTF8, 404);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        fake.BaseUrl = address.TrimEnd('/');
        return fake;
    }

    /// <summary>An update with a text message from a user in their private chat (chat id = user id), as Telegram sends it.</summary>
    public JsonObject MessageUpdate(long userId, string text, string firstName = "Ada")
    {
        var message = new JsonObject
        {
            ["message_id"] = Interlocked.Increment(ref _nextMessageId),
            ["from"] = User(userId, firstName),
            ["chat"] = new JsonObject { ["id"] = userId, ["type"] = "private", ["first_name"] = firstName },
            ["date"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            ["text"] = text,
        };
        if (text.StartsWith('/'))
        {
            var length = text.IndexOf(' ') is var space and > 0 ? space : text.Length;
            message["entities"] = new JsonArray(new JsonObject { ["offset"] = 0, ["length"] = length, ["type"] = "bot_command" });
        }

        return new JsonObject { ["update_id"] = Interlocked.Increment(ref _nextUpdateId), ["message"] = message };
    }

    /// <summary>A user pressed an inline button with <paramref name="data"/> under one of the bot's messages.</summary>
    public JsonObject CallbackUpdate(long userId, string data, int messageId, string firstName = "Ada") => new()
    {
        ["update_id"] = Interlocked.Increment(ref _nextUpdateId),
        ["callback_query"] = new JsonObject
        {
            ["id"] = "cb" + Interlocked.Increment(ref _nextMessageId).ToString(CultureInfo.InvariantCulture),
            ["from"] = User(userId, firstName),
            ["chat_instance"] = "ci" + userId.ToString(CultureInfo.InvariantCulture),
            ["data"] = data,
            ["message"] = new JsonObject
            {
                ["message_id"] = messageId,
                ["from"] = User(BotId, "Freeside", isBot: true),
                ["chat"] = new JsonObject { ["id"] = userId, ["type"] = "private", ["first_name"] = firstName },
                ["date"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                ["text"] = Messages(userId).GetValueOrDefault(messageId, "…"),
            },
        },
    };

    /// <summary>Delivers an update: POSTed to the webhook when one is set, else queued for getUpdates.</summary>
    public async Task<int?> DeliverAsync(JsonObject update, CancellationToken cancellationToken = default)
    {
        if (WebhookUrl is { } webhook)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, webhook)
            {
                Content = new StringContent(update.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            if (WebhookSecret is { } secret)
            {
                request.Headers.Add("X-Telegram-Bot-Api-Secret-Token", secret);
            }

            using var response = await _webhookClient.SendAsync(request, cancellationToken);
            return (int)response.StatusCode;
        }

        lock (_gate)
        {
            _pending.Add(update);
        }

        _arrived.Release();
        return null;
    }

    /// <summary>Waits until <paramref name="condition"/> holds (it is checked after every call), or fails after <paramref name="timeout"/>.</summary>
    public async Task WaitUntilAsync(Func<FakeBotApi, bool> condition, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        while (!condition(this))
        {
            try
            {
                await Task.Delay(20, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("The fake Bot API never saw what was waited for. Calls: "
                    + string.Join(", ", _calls.Select(c => $"{c.Method}({c.Status})")));
            }
        }
    }

    private async Task<IResult> UserMessageAsync(long userId, HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body) as JsonObject;
        var update = MessageUpdate(userId, body?["text"]?.GetValue<string>() ?? "/start", body?["first_name"]?.GetValue<string>() ?? "Ada");
        var status = await DeliverAsync(update, request.HttpContext.RequestAborted);
        return Results.Json(new { update_id = update["update_id"]!.GetValue<long>(), webhook_status = status });
    }

    private async Task<IResult> UserCallbackAsync(long userId, HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body) as JsonObject;
        var update = CallbackUpdate(userId, body?["data"]?.GetValue<string>() ?? "", body?["message_id"]?.GetValue<int>() ?? 0);
        var status = await DeliverAsync(update, request.HttpContext.RequestAborted);
        return Results.Json(new { update_id = update["update_id"]!.GetValue<long>(), webhook_status = status });
    }

    private async Task<IResult> BotMethodAsync(string botToken, string method, HttpRequest request)
    {
        if (!botToken.StartsWith("bot", StringComparison.Ordinal))
        {
            return Results.Content(Error(404, "Not Found").ToJsonString(), "application/json", Encoding.UTF8, 404);
        }

        var token = botToken[3..];
        var parameters = await ParametersAsync(request);
        var (status, answer) = Answer(method, parameters);
        // Recorded on arrival: a long poll may wait for its answer up to its timeout.
        _calls.Enqueue(new FakeCall(method, token, parameters, DateTimeOffset.UtcNow, status));
        if (status == 200 && method == "getUpdates")
        {
            answer = await UpdatesAsync(parameters, request.HttpContext.RequestAborted);
        }

        return Results.Content(answer.ToJsonString(), "application/json", Encoding.UTF8, status);
    }

    private (int Status, JsonObject Answer) Answer(string method, JsonObject p)
    {
        if (_faults.TryPeek(out var fault) && fault.Method == method && _faults.TryDequeue(out fault))
        {
            return (429, Error(429, $"Too Many Requests: retry after {fault.RetryAfter}",
                new JsonObject { ["retry_after"] = fault.RetryAfter }));
        }

        switch (method)
        {
            case "getMe":
                return Ok(User(BotId, "Freeside", isBot: true));
            case "setWebhook":
                WebhookUrl = Text(p, "url") is { Length: > 0 } url ? url : null;
                WebhookSecret = Text(p, "secret_token");
                return Ok(true);
            case "deleteWebhook":
                WebhookUrl = null;
                WebhookSecret = null;
                return Ok(true);
            case "getUpdates":
                return WebhookUrl is null
                    ? Ok(new JsonArray())
                    : (409, Error(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"));
            case "answerCallbackQuery":
                return Text(p, "callback_query_id") is { Length: > 0 } ? Ok(true) : (400, Error(400, "Bad Request: query is too old or query ID is invalid"));
            case "sendMessage":
            {
                if (!long.TryParse(Text(p, "chat_id"), CultureInfo.InvariantCulture, out var chatId))
                {
                    return (400, Error(400, "Bad Request: chat not found"));
                }

                if (Refused(Text(p, "text")) is { } refused)
                {
                    return refused;
                }

                var id = Interlocked.Increment(ref _nextMessageId);
                _chats.GetOrAdd(chatId, _ => new ConcurrentDictionary<int, string>())[id] = Text(p, "text")!;
                return Ok(Message(chatId, id, Text(p, "text")!));
            }

            case "editMessageText":
            {
                if (!long.TryParse(Text(p, "chat_id"), CultureInfo.InvariantCulture, out var chatId)
                    || !int.TryParse(Text(p, "message_id"), CultureInfo.InvariantCulture, out var id)
                    || !_chats.TryGetValue(chatId, out var chat) || !chat.TryGetValue(id, out var current))
                {
                    return (400, Error(400, "Bad Request: message to edit not found"));
                }

                if (Refused(Text(p, "text")) is { } refused)
                {
                    return refused;
                }

                if (current == Text(p, "text"))
                {
                    return (400, Error(400,
                        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"));
                }

                chat[id] = Text(p, "text")!;
                return Ok(Message(chatId, id, chat[id]));
            }

            default:
                return (404, Error(404, "Not Found: method not found"));
        }
    }

    private static (int, JsonObject)? Refused(string? text) => text switch
    {
        null or "" => (400, Error(400, "Bad Request: message text is empty")),
        { Length: > MaxTextLength } => (400, Error(400, "Bad Request: message is too long")),
        _ => null,
    };

    private async Task<JsonObject> UpdatesAsync(JsonObject p, CancellationToken cancellationToken)
    {
        var offset = long.TryParse(Text(p, "offset"), CultureInfo.InvariantCulture, out var o) ? o : 0;
        var timeout = int.TryParse(Text(p, "timeout"), CultureInfo.InvariantCulture, out var t) ? Math.Clamp(t, 0, 50) : 0;
        var deadline = DateTimeOffset.UtcNow.AddSeconds(timeout);
        while (true)
        {
            JsonArray ready;
            lock (_gate)
            {
                // Telegram forgets updates below the offset: they were confirmed.
                _pending.RemoveAll(u => u["update_id"]!.GetValue<long>() < offset);
                ready = [.. _pending.Select(u => u.DeepClone())];
            }

            var left = deadline - DateTimeOffset.UtcNow;
            if (ready.Count > 0 || left <= TimeSpan.Zero)
            {
                return new JsonObject { ["ok"] = true, ["result"] = ready };
            }

            try
            {
                await _arrived.WaitAsync(left, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return new JsonObject { ["ok"] = true, ["result"] = new JsonArray() };
            }
        }
    }

    private static async Task<JsonObject> ParametersAsync(HttpRequest request)
    {
        if (request.HasJsonContentType())
        {
            return await JsonNode.ParseAsync(request.Body) as JsonObject ?? [];
        }

        var parameters = new JsonObject();
        if (request.HasFormContentType)
        {
            foreach (var (key, value) in await request.ReadFormAsync())
            {
                parameters[key] = value.ToString();
            }
        }

        foreach (var (key, value) in request.Query)
        {
            parameters[key] = value.ToString();
        }

        return parameters;
    }

    private static string? Text(JsonObject p, string name) => p[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        var other => other.ToJsonString(),
    };

    private static JsonObject User(long id, string firstName, bool isBot = false) => new()
    {
        ["id"] = id, ["is_bot"] = isBot, ["first_name"] = firstName, ["username"] = firstName.ToLowerInvariant(),
    };

    private static JsonObject Message(long chatId, int id, string text) => new()
    {
        ["message_id"] = id,
        ["from"] = User(BotId, "Freeside", isBot: true),
        ["chat"] = new JsonObject { ["id"] = chatId, ["type"] = "private" },
        ["date"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        ["text"] = text,
    };

    private static (int, JsonObject) Ok(JsonNode result) => (200, new JsonObject { ["ok"] = true, ["result"] = result });

    private static JsonObject Error(int code, string description, JsonObject? parameters = null)
    {
        var error = new JsonObject { ["ok"] = false, ["error_code"] = code, ["description"] = description };
        if (parameters is not null)
        {
            error["parameters"] = parameters;
        }

        return error;
    }

    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    public async ValueTask DisposeAsync()
    {
        _webhookClient.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _arrived.Dispose();
    }
}
