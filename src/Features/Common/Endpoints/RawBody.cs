namespace Freeside.Features.Common.Endpoints;

/// <summary>A webhook's raw body, for signatures computed over its exact bytes.</summary>
public static class RawBody
{
    /// <summary>The body, or null when it is longer than <paramref name="limit"/> (read no further than the chunk that passes it).</summary>
    public static async Task<byte[]?> ReadLimitedAsync(Stream body, int limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
