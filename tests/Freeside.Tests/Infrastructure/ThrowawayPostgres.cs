using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Freeside.Tests.Infrastructure;

/// <summary>
/// A PostgreSQL cluster of a test's own, which the test may stop and start (the shared private
/// cluster must stay up for everyone else). As root it runs as the postgres user.
/// </summary>
public sealed class ThrowawayPostgres : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string _bin;

    private ThrowawayPostgres(string directory, string bin, int port)
    {
        _directory = directory;
        _bin = bin;
        Port = port;
    }

    public int Port { get; }

    public string Url => $"postgres://freeside@127.0.0.1:{Port}/postgres";

    /// <summary>As a least-privilege login (not the superuser), which is what the service may run as outside Development.</summary>
    public string AppUrl => $"postgres://freeside_app@127.0.0.1:{Port}/postgres";

    public static async Task<ThrowawayPostgres> StartAsync()
    {
        var bin = Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin")).First();
        var directory = Path.Combine(Path.GetTempPath(), "freeside-pg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        var cluster = new ThrowawayPostgres(directory, bin, FreePort());
        if (Environment.UserName == "root")
        {
            await RunAsync("chown", "postgres:postgres", directory);
        }

        await cluster.AsOwnerAsync(Path.Combine(bin, "initdb"), "-D", Path.Combine(directory, "data"), "-U", "freeside", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8");
        await cluster.StartClusterAsync();
        await using (var owner = new NpgsqlConnection($"Host=127.0.0.1;Port={cluster.Port};Username=freeside;Database=postgres;Pooling=false"))
        {
            await owner.OpenAsync();
            await using var create = new NpgsqlCommand("CREATE ROLE freeside_app LOGIN", owner);
            await create.ExecuteNonQueryAsync();
        }

        return cluster;
    }

    public Task StartClusterAsync() => AsOwnerAsync(Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_directory, "data"), "-w", "-t", "30",
        "-l", Path.Combine(_directory, "log"), "-o", $"-p {Port} -k {_directory} -c listen_addresses=127.0.0.1", "start");

    /// <summary>Immediate shutdown: connections drop at once, as when the database host dies.</summary>
    public Task StopClusterAsync() => AsOwnerAsync(Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_directory, "data"), "-m", "immediate", "-w", "stop");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopClusterAsync();
        }
        catch (InvalidOperationException)
        {
            // already stopped
        }

        Directory.Delete(_directory, recursive: true);
    }

    private Task AsOwnerAsync(string file, params string[] args) =>
        Environment.UserName == "root" ? RunAsync("runuser", ["-u", "postgres", "--", file, .. args]) : RunAsync(file, args);

    private static async Task RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
        }
    }

    private static int FreePort() => TestPorts.Free();
}
