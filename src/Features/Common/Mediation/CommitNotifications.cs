using MediatR;

namespace Freeside.Features.Common.Mediation;

/// <summary>
/// Notifications a command raises about what it wrote ("credits arrived", "wallet linked"). The
/// transaction behavior publishes them after the commit and drops them on a rollback, so no handler
/// ever announces a change that did not happen. Delivery is at most once: a crash between the commit
/// and the publish loses the announcement, never the change. Announcements only, not bookkeeping.
/// </summary>
public sealed class CommitNotifications
{
    private readonly List<INotification> _pending = [];

    public void Add(INotification notification) => _pending.Add(notification);

    internal void Clear() => _pending.Clear();

    internal IReadOnlyList<INotification> Drain()
    {
        var drained = _pending.ToList();
        _pending.Clear();
        return drained;
    }
}
