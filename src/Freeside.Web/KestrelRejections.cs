using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Freeside.Features.Common.Errors;
using Microsoft.AspNetCore.Connections;

namespace Freeside.Web;

/// <summary>
/// Kestrel answers a request it cannot parse (malformed request line or headers, a NUL in the path,
/// a URI or header block over its limits) itself, before any middleware, with an empty body. This
/// connection middleware gives those answers the same problem document as every other 4xx: it
/// recognises Kestrel's own rejection (a 4xx with <c>Content-Length: 0</c> and <c>Connection: close</c>;
/// every answer of the app has a body) and fills in the problem.
/// </summary>
internal static class KestrelRejections
{
    public static ConnectionDelegate Middleware(ConnectionDelegate next) => connection =>
    {
        var transport = connection.Transport;
        connection.Transport = new DuplexPipe(transport.Input, new RewritingWriter(transport.Output));
        return next(connection);
    };

    /// <summary>The problem body and headers replacing Kestrel's empty rejection, or null when <paramref name="response"/> is something else.</summary>
    internal static byte[]? Rewrite(ReadOnlySpan<byte> response)
    {
        // "HTTP/1.1 414 ..." then headers, ending exactly at the end of what is flushed: no body.
        if (response.Length < 16 || !response.StartsWith("HTTP/1."u8) || response[9] != (byte)'4'
            || !response.EndsWith("\r\n\r\n"u8))
        {
            return null;
        }

        var text = Encoding.ASCII.GetString(response);
        var headerStart = text.IndexOf("\r\n", StringComparison.Ordinal);
        if (!text.Contains("\r\nContent-Length: 0\r\n", StringComparison.OrdinalIgnoreCase)
            || !text.Contains("\r\nConnection: close\r\n", StringComparison.OrdinalIgnoreCase)
            || text.IndexOf("\r\n\r\n", StringComparison.Ordinal) != text.Length - 4
            || !int.TryParse(text.AsSpan(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            return null;
        }

        var problem = ProblemMapping.ForStatus(status, status switch
        {
            StatusCodes.Status414UriTooLong => "The request line is longer than the server accepts; shorten the URL or its query string.",
            StatusCodes.Status431RequestHeaderFieldsTooLarge => "The request headers are larger or more numerous than the server accepts.",
            StatusCodes.Status413PayloadTooLarge => "The request body is larger than the server accepts.",
            StatusCodes.Status408RequestTimeout => "The request headers did not arrive in time.",
            _ => "The request is not valid HTTP/1.1 (request line, target or headers); it was refused before reaching the API.",
        });
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            type = problem.Type,
            title = problem.Title,
            status = problem.Status,
            detail = problem.Detail,
        });

        var headers = new StringBuilder(text[..headerStart]);
        foreach (var line in text[(headerStart + 2)..^4].Split("\r\n"))
        {
            if (!line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                headers.Append("\r\n").Append(line);
            }
        }

        headers.Append("\r\nContent-Type: application/problem+json\r\nContent-Length: ")
            .Append(body.Length.ToString(CultureInfo.InvariantCulture)).Append("\r\n\r\n");
        return [.. Encoding.ASCII.GetBytes(headers.ToString()), .. body];
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    /// <summary>
    /// Holds what Kestrel writes until it flushes, so a bare rejection can be replaced whole. The buffer is rented from
    /// the pool for that span only: a connection between responses (a held chat socket, a keep-alive connection) holds
    /// none, and a streamed response holds one chunk at a time.
    /// </summary>
    internal sealed class RewritingWriter(PipeWriter inner) : PipeWriter
    {
        private byte[]? _pending;
        private int _written;

        // System.Text.Json asks Kestrel's response writer how much is unflushed, and Kestrel asks this.
        public override bool CanGetUnflushedBytes => true;

        public override long UnflushedBytes => _written;

        internal bool HoldsBuffer => _pending is not null;

        public override void Advance(int bytes)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(bytes);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, (_pending?.Length ?? 0) - _written);
            _written += bytes;
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => Reserve(sizeHint).AsMemory(_written);

        public override Span<byte> GetSpan(int sizeHint = 0) => Reserve(sizeHint).AsSpan(_written);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            Forward();
            return inner.FlushAsync(cancellationToken);
        }

        public override void Complete(Exception? exception = null)
        {
            Forward();
            inner.Complete(exception);
        }

        public override ValueTask CompleteAsync(Exception? exception = null)
        {
            Forward();
            return inner.CompleteAsync(exception);
        }

        private byte[] Reserve(int sizeHint)
        {
            var needed = _written + Math.Max(sizeHint, 1);
            if (_pending is null || _pending.Length < needed)
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(4096, (_pending?.Length ?? 0) * 2)));
                if (_pending is not null)
                {
                    _pending.AsSpan(0, _written).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(_pending);
                }

                _pending = larger;
            }

            return _pending;
        }

        private void Forward()
        {
            if (_pending is null)
            {
                return;
            }

            ReadOnlySpan<byte> written = _pending.AsSpan(0, _written);
            if (Rewrite(written) is { } problem)
            {
                inner.Write(problem);
            }
            else if (!written.IsEmpty)
            {
                inner.Write(written);
            }

            ArrayPool<byte>.Shared.Return(_pending);
            _pending = null;
            _written = 0;
        }
    }
}
