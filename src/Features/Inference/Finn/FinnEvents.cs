using System.Globalization;
using System.Text.Json;

namespace Freeside.Features.Inference.Finn;

/// <summary>An event of finn's stream (contracts/finn.md), already checked for order and shape.</summary>
public abstract record FinnEvent;

public sealed record FinnStarted(string Model, string PoolId, string PersonalityId, string TraceId, string ContractVersion) : FinnEvent;

public sealed record FinnChunk(string Delta) : FinnEvent;

public sealed record FinnUsage(long PromptTokens, long CompletionTokens) : FinnEvent;

public sealed record FinnEnded(string FinishReason, string BillingMethod, long CostMicro) : FinnEvent;

public sealed record FinnFailed(string Code, string Message, bool Retryable) : FinnEvent;

/// <summary>
/// Turns frames into events and enforces the contract's order: <c>stream_start</c> first, then chunks
/// and usage, then exactly one <c>stream_end</c> (after at least one usage) or <c>error</c>, then
/// nothing. Ids must count up from 0. Anything else is a protocol violation, never guessed around,
/// because billing reads these events.
/// </summary>
public sealed class FinnEventSequencer
{
    private long _nextId;
    private bool _started;
    private bool _sawUsage;
    private bool _finished;

    public bool Finished => _finished;

    public FinnEvent Next(SseFrame frame)
    {
        if (_finished)
        {
            throw new FinnProtocolException($"finn sent '{frame.Event}' after the stream ended.");
        }

        if (frame.Id is null || !long.TryParse(frame.Id, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id != _nextId)
        {
            throw new FinnProtocolException($"finn sent event id '{frame.Id}' where {_nextId} was expected.");
        }

        _nextId++;
        if (!_started && frame.Event != "stream_start")
        {
            throw new FinnProtocolException($"finn sent '{frame.Event}' before stream_start.");
        }

        try
        {
            using var document = JsonDocument.Parse(frame.Data);
            var data = document.RootElement;
            switch (frame.Event)
            {
                case "stream_start" when !_started:
                    _started = true;
                    return new FinnStarted(Text(data, "model"), Text(data, "pool_id"), Text(data, "personality_id"),
                        Text(data, "trace_id"), Text(data, "contract_version"));
                case "chunk":
                    return new FinnChunk(Text(data, "delta", allowEmpty: true));
                case "usage":
                    _sawUsage = true;
                    return new FinnUsage(Count(data, "prompt_tokens"), Count(data, "completion_tokens"));
                case "stream_end" when _sawUsage:
                    _finished = true;
                    var cost = Text(data, "cost_micro");
                    if (!long.TryParse(cost, NumberStyles.None, CultureInfo.InvariantCulture, out var costMicro))
                    {
                        throw new FinnProtocolException("finn sent a cost_micro that is not a whole number of micro-USD.");
                    }

                    return new FinnEnded(Text(data, "finish_reason"), Text(data, "billing_method"), costMicro);
                case "stream_end":
                    throw new FinnProtocolException("finn ended the stream without a usage event.");
                case "error":
                    _finished = true;
                    return new FinnFailed(Text(data, "code"), Text(data, "message", allowEmpty: true),
                        data.TryGetProperty("retryable", out var retryable) && retryable.ValueKind == JsonValueKind.True);
                default:
                    throw new FinnProtocolException($"finn sent an unexpected '{frame.Event}' event.");
            }
        }
        catch (JsonException)
        {
            throw new FinnProtocolException($"finn sent a '{frame.Event}' event whose data is not JSON.");
        }
        catch (InvalidOperationException)
        {
            throw new FinnProtocolException($"finn sent a '{frame.Event}' event whose data is not an object.");
        }
    }

    private static string Text(JsonElement data, string name, bool allowEmpty = false) =>
        data.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && (allowEmpty || value.GetString()!.Length > 0)
            ? value.GetString()!
            : throw new FinnProtocolException($"finn's event lacks the string '{name}'.");

    private static long Count(JsonElement data, string name) =>
        data.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var count) && count >= 0
            ? count
            : throw new FinnProtocolException($"finn's event lacks the count '{name}'.");
}
