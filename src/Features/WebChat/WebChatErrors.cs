using Freeside.Features.Common.Errors;

namespace Freeside.Features.WebChat;

public sealed record WebSocketRequired()
    : Error(ErrorKind.Invalid, "websocket-required", "A WebSocket upgrade is required.",
        "This address speaks the chat protocol over a WebSocket; open it with a WebSocket client (docs/webchat.md).");

/// <summary>The browser's page is on an origin the community has not allowed (cross-site WebSocket hijacking guard).</summary>
public sealed record OriginNotAllowed(string Origin)
    : Error(ErrorKind.Forbidden, "origin-not-allowed", "This origin may not open the chat.",
        $"Origin '{Origin}' is neither this service nor one of the community's allowed embedding origins.");

public sealed record ServerDraining()
    : Error(ErrorKind.Unavailable, "draining", "The server is restarting.", "This server is shutting down; connect again in a moment.");
