using System.Net;
using System.Net.Sockets;

namespace Freeside.Tests.Infrastructure;

/// <summary>
/// Loopback ports for the child processes and listeners a test starts (stand-ins, anvil, PostgreSQL, Kestrel).
/// A port the kernel hands out for port 0 comes from the ephemeral range, which is also where every outgoing
/// connection of the run (pools to PostgreSQL and Redis, HTTP clients) takes its local port: between choosing such a
/// port and the child binding it, a connection could take it, and the child failed to start. These come from below
/// the ephemeral range (Linux: 32768 and up), are free when chosen, and are never handed out twice in one run.
/// </summary>
public static class TestPorts
{
    private const int First = 20_000;
    private const int Last = 32_000;
    private static readonly HashSet<int> Given = [];

    public static int Free()
    {
        lock (Given)
        {
            for (var attempt = 0; attempt < 1_000; attempt++)
            {
                var port = Random.Shared.Next(First, Last);
                if (Given.Contains(port) || !Bindable(port))
                {
                    continue;
                }

                Given.Add(port);
                return port;
            }
        }

        throw new InvalidOperationException($"No free loopback port between {First} and {Last}.");
    }

    private static bool Bindable(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
