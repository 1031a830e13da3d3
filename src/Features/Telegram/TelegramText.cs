using System.Globalization;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.RateLimiting;
using Telegram.Bot.Exceptions;

namespace Freeside.Features.Telegram;

/// <summary>How the bot words things it did not do.</summary>
internal static class TelegramText
{
    public static string Problem(Error error) => error switch
    {
        Inference.ChatRateLimited limited => $"Slow down a little: try again in {limited.Decision.RetryAfterSeconds} s.",
        RateLimited limited => $"Slow down a little: try again in {limited.Decision.RetryAfterSeconds} s.",
        { Kind: ErrorKind.TooManyRequests } => "Slow down a little and try again shortly.",
        { Type: "insufficient-credits" } => "The community is out of credits. Top it up with /buy_credits.",
        { Type: "daily-cap-reached" } => "You reached today's spending cap for this community; it resets at 00:00 UTC.",
        AccessDenied => "Only the wallet that holds this NFT may talk to its agent. Is your linked wallet (/verify) the holder?",
        NotFound notFound => $"No {notFound.What} '{notFound.Key}' here.",
        _ => $"{error.Title} {error.Detail}".Trim(),
    };

    public static string Usd(long micro) =>
        (micro / 1_000_000m).ToString(micro % 10_000 == 0 ? "0.00" : "0.00####", CultureInfo.InvariantCulture);

    /// <summary>A notice outside any request of the user (credits arrived, wallet linked): a Telegram failure is logged by the caller's counters, never thrown into the publisher.</summary>
    public static async Task<bool> TrySendAsync(TelegramBot bot, long chatId, string text, CancellationToken cancellationToken)
    {
        try
        {
            await bot.SendTextAsync(chatId, text, null, cancellationToken);
            return true;
        }
        catch (Exception e) when (e is ApiRequestException or RequestException or HttpRequestException)
        {
            return false;
        }
    }
}
