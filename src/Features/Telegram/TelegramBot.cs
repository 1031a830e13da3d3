using System.Diagnostics.Metrics;
using System.Globalization;
using Freeside.Features.Common.Observability;
using Freeside.Features.Common.RateLimiting;
using Microsoft.Extensions.Logging;
using Telegram.Bot;
using Telegram.Bot.Exceptions;
using Telegram.Bot.Types;
using Telegram.Bot.Types.Enums;
using Telegram.Bot.Types.ReplyMarkups;

namespace Freeside.Features.Telegram;

/// <summary>
/// Every call Freeside makes to the Bot API, through Telegram.Bot. Sends are paced by the shared
/// limiter (per chat and per bot, the limits Telegram documents: about one message a second in a
/// chat, thirty a second in all), so every replica counts against the same allowance; a 429 is
/// still possible (Telegram's own counters), and then its retry_after is waited out before the
/// same call is made again, at most <see cref="MaxRetries"/> times.
/// </summary>
public sealed partial class TelegramBot
{
    public const int MaxMessageLength = 4096;
    public const int MaxRetries = 3;

    public static readonly RateLimitPolicy PerChat = new("telegram-send-chat", RateLimitAlgorithm.TokenBucket, 60, TimeSpan.FromMinutes(1), Burst: 5);
    public static readonly RateLimitPolicy PerBot = new("telegram-send-bot", RateLimitAlgorithm.TokenBucket, 1800, TimeSpan.FromMinutes(1), Burst: 30);

    private readonly TelegramSettings _settings;
    private readonly RateLimiter _limiter;
    private readonly TimeProvider _time;
    private readonly ILogger<TelegramBot> _logger;
    private readonly Lazy<ITelegramBotClient> _client;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _calls;

    public TelegramBot(TelegramSettings settings, IHttpClientFactory http, RateLimiter limiter, TimeProvider time, IMeterFactory meters, ILogger<TelegramBot> logger)
    {
        _settings = settings;
        _limiter = limiter;
        _time = time;
        _logger = logger;
        _client = new Lazy<ITelegramBotClient>(() =>
        {
            var token = settings.BotToken ?? throw new InvalidOperationException("TELEGRAM_BOT_TOKEN is not set.");
            var options = new TelegramBotClientOptions(token, settings.ApiUrl == TelegramSettings.DefaultApiUrl ? null : settings.ApiUrl.ToString().TrimEnd('/'))
            {
                // Freeside waits out retry_after itself (below), so the library must not retry on its own.
                RetryThreshold = 0,
            };
            return new TelegramBotClient(options, http.CreateClient(HttpClientName));
        });
        var meter = meters.Create(FreesideMetrics.MeterName);
        _retries = meter.CreateCounter<long>("telegram_retry_after", null, "Bot API calls answered 429 and retried after retry_after.");
        _calls = meter.CreateCounter<long>("telegram_api_calls", null, "Bot API calls, by method and outcome.");
    }

    public const string HttpClientName = "telegram";

    public bool Enabled => _settings.Enabled;

    public Task<Message> SendTextAsync(long chatId, string text, ReplyMarkup? markup, CancellationToken cancellationToken) =>
        CallAsync("sendMessage", chatId, (bot, ct) => bot.SendMessage(chatId, text, replyMarkup: markup,
            linkPreviewOptions: new LinkPreviewOptions { IsDisabled = true }, cancellationToken: ct), cancellationToken);

    public Task<Message> EditTextAsync(long chatId, int messageId, string text, CancellationToken cancellationToken) =>
        CallAsync("editMessageText", chatId, (bot, ct) => bot.EditMessageText(chatId, messageId, text,
            linkPreviewOptions: new LinkPreviewOptions { IsDisabled = true }, cancellationToken: ct), cancellationToken);

    public Task<bool> AnswerCallbackAsync(string callbackQueryId, string? text, CancellationToken cancellationToken) =>
        CallAsync("answerCallbackQuery", null, async (bot, ct) =>
        {
            await bot.AnswerCallbackQuery(callbackQueryId, text, cancellationToken: ct);
            return true;
        }, cancellationToken);

    public Task<bool> SetWebhookAsync(Uri url, string secret, CancellationToken cancellationToken) =>
        CallAsync("setWebhook", null, async (bot, ct) =>
        {
            await bot.SetWebhook(url.ToString(), secretToken: secret,
                allowedUpdates: [UpdateType.Message, UpdateType.CallbackQuery], cancellationToken: ct);
            return true;
        }, cancellationToken);

    public Task<bool> DeleteWebhookAsync(CancellationToken cancellationToken) =>
        CallAsync("deleteWebhook", null, async (bot, ct) =>
        {
            await bot.DeleteWebhook(cancellationToken: ct);
            return true;
        }, cancellationToken);

    public Task<Update[]> GetUpdatesAsync(int offset, int timeoutSeconds, CancellationToken cancellationToken) =>
        CallAsync("getUpdates", null, (bot, ct) => bot.GetUpdates(offset, 100, timeoutSeconds,
            [UpdateType.Message, UpdateType.CallbackQuery], ct), cancellationToken, paced: false);

    private async Task<T> CallAsync<T>(string method, long? chatId, Func<ITelegramBotClient, CancellationToken, Task<T>> call,
        CancellationToken cancellationToken, bool paced = true)
    {
        for (var attempt = 0; ; attempt++)
        {
            if (paced)
            {
                if (chatId is { } chat)
                {
                    await WaitForAllowanceAsync(PerChat, chat.ToString(CultureInfo.InvariantCulture), cancellationToken);
                }

                await WaitForAllowanceAsync(PerBot, "bot", cancellationToken);
            }

            try
            {
                var result = await call(_client.Value, cancellationToken);
                _calls.Add(1, new KeyValuePair<string, object?>("method", method), new KeyValuePair<string, object?>("outcome", "ok"));
                return result;
            }
            catch (ApiRequestException e) when (e.ErrorCode == 429 && attempt < MaxRetries)
            {
                var wait = TimeSpan.FromSeconds(Math.Clamp(e.Parameters?.RetryAfter ?? 1, 1, 3600));
                _retries.Add(1, new KeyValuePair<string, object?>("method", method));
                LogRetryAfter(_logger, method, (int)wait.TotalSeconds, attempt + 1);
                await Task.Delay(wait, _time, cancellationToken);
            }
            catch (ApiRequestException e)
            {
                _calls.Add(1, new KeyValuePair<string, object?>("method", method), new KeyValuePair<string, object?>("outcome", e.ErrorCode.ToString(CultureInfo.InvariantCulture)));
                throw;
            }
        }
    }

    private async Task WaitForAllowanceAsync(RateLimitPolicy policy, string key, CancellationToken cancellationToken)
    {
        while (true)
        {
            var decision = await _limiter.AcquireAsync(policy, key, 1, cancellationToken);
            if (decision.Allowed)
            {
                return;
            }

            await Task.Delay(decision.RetryAfter < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : decision.RetryAfter, _time, cancellationToken);
        }
    }

    [LoggerMessage(EventId = 9501, Level = LogLevel.Warning,
        Message = "Telegram answered {Method} with 429; waiting retry_after {RetryAfterSeconds} s before attempt {Attempt}")]
    private static partial void LogRetryAfter(ILogger logger, string method, int retryAfterSeconds, int attempt);
}
