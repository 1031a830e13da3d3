using System.Text;

namespace Freeside.Features.Inference.Finn;

/// <summary>One Server-Sent Events frame: the lines up to a blank line.</summary>
public sealed record SseFrame(string? Id, string Event, string Data);

/// <summary>The upstream broke the stream's framing or the contract's event order.</summary>
public sealed class FinnProtocolException(string message) : Exception(message);

/// <summary>
/// Incremental SSE framing over raw bytes. A read may end anywhere, even inside a UTF-8 sequence or
/// between the two newlines that end a frame, so bytes are kept until a whole frame is present.
/// A frame that grows past <see cref="MaxFrameBytes"/> is refused: an upstream that never sends the
/// blank line must not make Freeside buffer without bound.
/// </summary>
public sealed class SseParser
{
    public const int MaxFrameBytes = 64 * 1024;

    private readonly byte[] _buffer = new byte[MaxFrameBytes + 2];
    private int _length;

    /// <summary>Adds bytes and returns every frame they complete, in order.</summary>
    public IReadOnlyList<SseFrame> Feed(ReadOnlySpan<byte> bytes)
    {
        var frames = new List<SseFrame>();
        while (!bytes.IsEmpty)
        {
            var room = _buffer.Length - _length;
            var take = Math.Min(room, bytes.Length);
            bytes[..take].CopyTo(_buffer.AsSpan(_length));
            _length += take;
            bytes = bytes[take..];
            DrainFrames(frames);
            if (_length > MaxFrameBytes)
            {
                throw new FinnProtocolException("An event frame from finn exceeds 64 KB.");
            }
        }

        return frames;
    }

    /// <summary>True when bytes of an unfinished frame are waiting (the stream ended mid-frame).</summary>
    public bool HasPartialFrame => _length > 0;

    private void DrainFrames(List<SseFrame> frames)
    {
        var start = 0;
        while (true)
        {
            var end = FindFrameEnd(_buffer.AsSpan(start, _length - start), out var delimiter);
            if (end < 0)
            {
                break;
            }

            if (end > MaxFrameBytes)
            {
                throw new FinnProtocolException("An event frame from finn exceeds 64 KB.");
            }

            if (Parse(_buffer.AsSpan(start, end)) is { } frame)
            {
                frames.Add(frame);
            }

            start += end + delimiter;
        }

        if (start > 0)
        {
            _buffer.AsSpan(start, _length - start).CopyTo(_buffer);
            _length -= start;
        }
    }

    private static int FindFrameEnd(ReadOnlySpan<byte> span, out int delimiter)
    {
        for (var i = 0; i < span.Length - 1; i++)
        {
            if (span[i] != '\n')
            {
                continue;
            }

            if (span[i + 1] == '\n')
            {
                delimiter = 2;
                return i;
            }

            if (span[i + 1] == '\r' && i + 2 < span.Length && span[i + 2] == '\n')
            {
                delimiter = 3;
                return i;
            }
        }

        delimiter = 0;
        return -1;
    }

    private static SseFrame? Parse(ReadOnlySpan<byte> raw)
    {
        string? id = null;
        var name = "message";
        StringBuilder? data = null;
        foreach (var rawLine in Encoding.UTF8.GetString(raw).Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            if (line.Length == 0 || line[0] == ':')
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' '))
            {
                value = value[1..];
            }

            switch (field)
            {
                case "id":
                    id = value;
                    break;
                case "event":
                    name = value;
                    break;
                case "data":
                    data = data is null ? new StringBuilder(value) : data.Append('\n').Append(value);
                    break;
            }
        }

        return data is null ? null : new SseFrame(id, name, data.ToString());
    }
}
