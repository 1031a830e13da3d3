using System.Text.Json;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Discord.Client;

namespace Freeside.Features.Discord;

/// <summary>
/// <c>dotnet Freeside.Web.dll discord register</c>: replaces the application's global slash commands
/// with Freeside's (one bulk overwrite, idempotent). An operator's one-off, so it calls Discord directly
/// rather than through the write queue.
/// </summary>
public static class RegisterCommands
{
    private const int String = 3;
    private const int Integer = 4;

    public static IReadOnlyList<CommandDefinition> Definitions { get; } =
    [
        new("verify", "Link your Discord account to your wallet (a one-time signing page)."),
        new("my-agent", "Open your private thread with your NFT's agent.",
            [new("token_id", "The token id of the NFT you hold", String, true)]),
        new("agent-info", "Show an agent's public profile.",
            [new("token_id", "The token id of the NFT", String, true)]),
        new("buy-credits", "Buy credits for this server's community.",
            [new("amount", "US dollars", Integer, true, BuyCredits.Amounts.Select(a => new CommandChoice($"${a}", JsonSerializer.SerializeToElement(a))).ToList())]),
    ];

    /// <returns>The process exit code: 0 on success, 2 on a configuration error, 1 when Discord refused.</returns>
    public static async Task<int> RunAsync(FreesideSettings settings, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var discord = settings.Capability<DiscordSettings>();
        if (discord.BotToken is null || discord.ApplicationId is null)
        {
            await error.WriteLineAsync("freeside: configuration error: DISCORD_BOT_TOKEN and DISCORD_APPLICATION_ID: both are required to register commands");
            return 2;
        }

        using var http = new HttpClient { BaseAddress = discord.ApiUrl, Timeout = TimeSpan.FromSeconds(30) };
        var client = new DiscordRestClient(http, discord.BotToken, TimeProvider.System);
        var response = await client.SendAsync(new DiscordRequest(HttpMethod.Put, $"applications/{discord.ApplicationId}/commands",
            JsonSerializer.Serialize(Definitions, DiscordJson.Options)), cancellationToken);
        if (!response.IsSuccess)
        {
            await error.WriteLineAsync($"freeside: Discord refused the commands: HTTP {response.Status}: {response.Body}");
            return 1;
        }

        await output.WriteLineAsync($"freeside: registered {Definitions.Count} Discord commands: {string.Join(", ", Definitions.Select(d => "/" + d.Name))}");
        return 0;
    }
}
