using System.Collections.Concurrent;

namespace Freeside.FinnStub;

/// <summary>What the stand-in received, for tests (served only with FINN_STUB_FAULTS=true).</summary>
public sealed class RequestLog
{
    private readonly ConcurrentQueue<object> _entries = new();

    public void Add(string path, string? fault, S2SClaims claims)
    {
        _entries.Enqueue(new { path, fault, claims = claims.All });
        while (_entries.Count > 1000 && _entries.TryDequeue(out _))
        {
        }
    }

    public IReadOnlyList<object> Entries => [.. _entries];
}
