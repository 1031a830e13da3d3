using System.Text.Json;
using System.Text.Json.Serialization;

namespace Freeside.Features.Discord.Client;

/// <summary>The subset of Discord's v10 JSON that Freeside reads and writes (snake_case on the wire).</summary>
public static class DiscordJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

public enum InteractionType
{
    Ping = 1,
    ApplicationCommand = 2,
    MessageComponent = 3,
    Autocomplete = 4,
    ModalSubmit = 5,
}

public enum InteractionCallbackType
{
    Pong = 1,
    ChannelMessageWithSource = 4,
    DeferredChannelMessageWithSource = 5,
}

public static class MessageFlags
{
    public const int Ephemeral = 1 << 6;
}

public sealed record Interaction(
    string Id,
    InteractionType Type,
    string? ApplicationId,
    string? Token,
    InteractionData? Data,
    string? GuildId,
    string? ChannelId,
    GuildMember? Member,
    DiscordUser? User,
    string? AppPermissions)
{
    /// <summary>The invoking user: <c>member.user</c> in a server, <c>user</c> in a DM.</summary>
    public DiscordUser? Invoker => Member?.User ?? User;

    public string? Option(string name) =>
        Data?.Options?.FirstOrDefault(o => o.Name == name)?.Value is { } value
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()
            : null;
}

public sealed record InteractionData(string? Id, string? Name, IReadOnlyList<InteractionOption>? Options);

public sealed record InteractionOption(string Name, int Type, JsonElement? Value);

public sealed record GuildMember(DiscordUser? User, string? Permissions);

public sealed record DiscordUser(string Id, string? Username, string? GlobalName, bool? Bot);

public sealed record InteractionResponse(InteractionCallbackType Type, MessagePayload? Data = null);

public sealed record MessagePayload(string? Content = null, int? Flags = null);

public sealed record DiscordMessage(string Id, string ChannelId, DiscordUser? Author, string? Content, string? GuildId);

public sealed record DiscordChannel(string Id, int Type, string? Name, string? GuildId, string? ParentId);

/// <summary>Application command definitions sent by <c>discord register</c>.</summary>
public sealed record CommandDefinition(string Name, string Description, IReadOnlyList<CommandOptionDefinition>? Options = null, int Type = 1);

public sealed record CommandOptionDefinition(string Name, string Description, int Type, bool Required, IReadOnlyList<CommandChoice>? Choices = null);

public sealed record CommandChoice(string Name, JsonElement Value);
