using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Freeside.Features.Common.Endpoints;

/// <summary>
/// A page or script compiled into this assembly (no front-end build step, nothing from a CDN),
/// served with a strong ETag so a revalidating browser gets a 304.
/// </summary>
public sealed class EmbeddedAsset(string logicalName, string contentType)
{
    private readonly Lazy<(byte[] Bytes, string ETag)> _content = new(() =>
    {
        using var stream = typeof(EmbeddedAsset).Assembly.GetManifestResourceStream(logicalName)
            ?? throw new InvalidOperationException($"The embedded asset {logicalName} is missing from the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var bytes = copy.ToArray();
        return (bytes, "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes).AsSpan(0, 16)) + "\"");
    });

    public string ContentType => contentType;

    public IResult Serve(HttpContext http, string cacheControl)
    {
        var (bytes, etag) = _content.Value;
        http.Response.Headers.CacheControl = cacheControl;
        http.Response.Headers.ETag = etag;
        http.Response.Headers.XContentTypeOptions = "nosniff";
        if (http.Request.Headers.IfNoneMatch.Any(value => value is not null && value.Split(',').Any(tag => tag.Trim() == etag)))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(bytes, contentType);
    }
}
