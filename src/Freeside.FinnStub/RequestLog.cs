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

    private readonly ConcurrentDictionary<string, int> _attempts = new(StringComparer.Ordinal);

    public IReadOnlyList<object> Entries => [.. _entries];

    /// <summary>Counts an attempt for one budget reservation; returns the count including this one.</summary>
    public int CountAttempt(string reservationId) => _attempts.AddOrUpdate(reservationId, 1, (_, n) => n + 1);
}
