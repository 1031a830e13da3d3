using System.Security.Cryptography;
using System.Text;

namespace Freeside.Features.WebChat;

/// <summary>
/// The page, its script and style, and the widget, embedded in the assembly (no front-end build step). Each asset
/// is addressed by its content hash, so a page can cache it forever and a deploy changes the address.
/// </summary>
public sealed class WebChatAssets
{
    public WebChatAssets()
    {
        PageTemplate = Read("chat.html");
        Script = Asset.Of(Read("chat.js"), "text/javascript; charset=utf-8");
        Style = Asset.Of(Read("chat.css"), "text/css; charset=utf-8");
        Widget = Asset.Of(Read("widget.js"), "text/javascript; charset=utf-8");
    }

    public string PageTemplate { get; }

    public Asset Script { get; }

    public Asset Style { get; }

    public Asset Widget { get; }

    public Asset? ByName(string hash, string file) => file switch
    {
        "chat.js" when hash == Script.Hash => Script,
        "chat.css" when hash == Style.Hash => Style,
        _ => null,
    };

    private static string Read(string name)
    {
        using var stream = typeof(WebChatAssets).Assembly.GetManifestResourceStream("Freeside.Features.WebChat.Assets." + name)
            ?? throw new InvalidOperationException($"The embedded web chat asset {name} is missing.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public sealed record Asset(byte[] Bytes, string ContentType, string Hash)
    {
        public string ETag => "\"" + Hash + "\"";

        public static Asset Of(string text, string contentType)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            return new Asset(bytes, contentType, Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]);
        }
    }
}
