using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Freeside.Features.Inference;
using Microsoft.AspNetCore.Http;

namespace Freeside.Features.Developers.OpenAi;

/// <summary>
/// Writes a chat the way OpenAI's chat completions do: streamed as <c>chat.completion.chunk</c> events
/// (role first, content deltas, the finish reason, the usage chunk when asked for, then <c>[DONE]</c>), or
/// gathered for one <c>chat.completion</c> body.
/// </summary>
public sealed class OpenAiChatSink(HttpResponse response, string model, bool stream, bool includeUsage, int maxTokens, long created) : IChatSink
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    private readonly StringBuilder _content = new();
    private string _id = "";

    public bool Started { get; private set; }

    public Chat.Ended? Ended { get; private set; }

    public string Id => _id;

    public string Content => _content.ToString();

    public string FinishReason => Ended is { } ended && ended.CompletionTokens >= maxTokens ? "length" : "stop";

    public async Task StartAsync(Chat.Started started, CancellationToken cancellationToken)
    {
        _id = "chatcmpl-" + started.MessageId.ToString("N");
        Started = true;
        response.Headers["X-Pool-Used"] = started.Pool;
        if (!stream)
        {
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        await ChunkAsync(new { role = "assistant", content = "" }, null, cancellationToken);
    }

    public Task TokenAsync(string text, CancellationToken cancellationToken)
    {
        if (!stream)
        {
            _content.Append(text);
            return Task.CompletedTask;
        }

        Chunk(new { content = text }, null);
        return Task.CompletedTask;
    }

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (stream)
        {
            await response.BodyWriter.FlushAsync(cancellationToken);
        }
    }

    public async Task EndAsync(Chat.Ended ended, CancellationToken cancellationToken)
    {
        Ended = ended;
        if (!stream)
        {
            return;
        }

        await ChunkAsync(new { }, FinishReason, cancellationToken);
        if (includeUsage)
        {
            await WriteAsync(new
            {
                id = _id, @object = "chat.completion.chunk", created, model, system_fingerprint = (string?)null, choices = Array.Empty<object>(),
                usage = Usage(ended),
            }, cancellationToken);
        }

        response.BodyWriter.Write("data: [DONE]\n\n"u8);
        await response.BodyWriter.FlushAsync(cancellationToken);
    }

    /// <summary>Mid-stream the status is gone: the error travels as an event, which the SDKs raise as an APIError.</summary>
    public Task ErrorAsync(string code, string message, CancellationToken cancellationToken) =>
        stream ? WriteAsync(new { error = new { message, type = "server_error", param = (string?)null, code } }, cancellationToken) : Task.CompletedTask;

    public static object Usage(Chat.Ended ended) => new
    {
        prompt_tokens = ended.PromptTokens,
        completion_tokens = ended.CompletionTokens,
        total_tokens = ended.PromptTokens + ended.CompletionTokens,
    };

    private async Task ChunkAsync(object delta, string? finishReason, CancellationToken cancellationToken)
    {
        Chunk(delta, finishReason);
        await response.BodyWriter.FlushAsync(cancellationToken);
    }

    private void Chunk(object delta, string? finishReason) => Write(new
    {
        id = _id,
        @object = "chat.completion.chunk",
        created,
        model,
        system_fingerprint = (string?)null,
        choices = new[] { new { index = 0, delta, logprobs = (object?)null, finish_reason = finishReason } },
    });

    private async Task WriteAsync(object data, CancellationToken cancellationToken)
    {
        Write(data);
        await response.BodyWriter.FlushAsync(cancellationToken);
    }

    /// <summary>One <c>data:</c> event into the response's buffer, serialized straight into it; sent by the next flush.</summary>
    private void Write(object data)
    {
        var body = response.BodyWriter;
        body.Write("data: "u8);
        using (var json = new Utf8JsonWriter(body))
        {
            JsonSerializer.Serialize(json, data, Json);
        }

        body.Write("\n\n"u8);
    }
}
