using System.Text;
using Freeside.Features.Inference;
using Telegram.Bot.Exceptions;

namespace Freeside.Features.Telegram;

/// <summary>
/// A streamed agent reply in a Telegram chat: one message sent when the stream starts, then edited
/// as text arrives — at most once per <c>interval</c> (TELEGRAM_EDIT_INTERVAL_MS), because every edit
/// counts against Telegram's per-chat limit — and a last time at the end. Text past 4,096 characters
/// (Telegram's limit per message) continues in a new message. A Telegram failure surfaces as an
/// <see cref="IOException"/>: to the chat service that is a caller gone, so it settles for what was
/// delivered and never charges twice.
/// </summary>
internal sealed class TelegramReplySink(TelegramBot bot, long chatId, TimeSpan interval, TimeProvider time) : IChatSink
{
    public const string Placeholder = "…";

    private readonly StringBuilder _text = new();
    private readonly List<(int MessageId, string Shown)> _messages = [];
    private DateTimeOffset _lastFlush;

    public Chat.Started? Started { get; private set; }

    /// <summary>The texts of the messages as the chat shows them now.</summary>
    public IReadOnlyList<string> Shown => [.. _messages.Select(m => m.Shown)];

    public async Task StartAsync(Chat.Started started, CancellationToken cancellationToken)
    {
        Started = started;
        await GuardAsync(async () =>
        {
            var message = await bot.SendTextAsync(chatId, Placeholder, null, cancellationToken);
            _messages.Add((message.MessageId, Placeholder));
        });
        _lastFlush = time.GetUtcNow();
    }

    public async Task TokenAsync(string text, CancellationToken cancellationToken)
    {
        _text.Append(text);
        if (time.GetUtcNow() - _lastFlush >= interval)
        {
            await FlushAsync(cancellationToken);
        }
    }

    public Task EndAsync(Chat.Ended ended, CancellationToken cancellationToken) => FlushAsync(cancellationToken);

    public Task ErrorAsync(string code, string message, CancellationToken cancellationToken)
    {
        _text.Append(_text.Length == 0 ? "" : "\n\n").Append("⚠ ").Append(message);
        return FlushAsync(cancellationToken);
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        var pages = Split(_text.ToString(), TelegramBot.MaxMessageLength);
        await GuardAsync(async () =>
        {
            for (var i = 0; i < pages.Count; i++)
            {
                if (i < _messages.Count)
                {
                    if (_messages[i].Shown != pages[i])
                    {
                        await bot.EditTextAsync(chatId, _messages[i].MessageId, pages[i], cancellationToken);
                        _messages[i] = (_messages[i].MessageId, pages[i]);
                    }
                }
                else
                {
                    var sent = await bot.SendTextAsync(chatId, pages[i], null, cancellationToken);
                    _messages.Add((sent.MessageId, pages[i]));
                }
            }
        });
        _lastFlush = time.GetUtcNow();
    }

    private static async Task GuardAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (Exception e) when (e is ApiRequestException or RequestException or HttpRequestException)
        {
            throw new IOException("Telegram refused the reply: " + e.Message, e);
        }
    }

    /// <summary>
    /// Pages of at most <paramref name="max"/> UTF-16 units, cut at the last line break or space in the
    /// second half of a page when there is one, never inside a surrogate pair. Empty text is the placeholder.
    /// </summary>
    public static IReadOnlyList<string> Split(string text, int max)
    {
        if (text.Length == 0)
        {
            return [Placeholder];
        }

        var pages = new List<string>();
        var start = 0;
        while (text.Length - start > max)
        {
            var end = start + max;
            if (char.IsLowSurrogate(text[end]))
            {
                end--;
            }

            var cut = text.LastIndexOfAny(['\n', ' '], end - 1, end - start - (max / 2));
            if (cut > start)
            {
                end = cut + 1;
            }

            pages.Add(text[start..end]);
            start = end;
        }

        pages.Add(text[start..]);
        return pages;
    }
}
