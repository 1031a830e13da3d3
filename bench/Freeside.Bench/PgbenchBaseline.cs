using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;

namespace Freeside.Bench;

/// <summary>
/// Raw PostgreSQL on the same cluster, in the same run: Debian's pgbench, 64 clients, each transaction
/// updates one row and inserts one row, on one hot row or spread over 1,000 rows. The ledger's pairs/s
/// divided by this is comparable between machines that differ in PostgreSQL speed.
/// </summary>
public static partial class PgbenchBaseline
{
    public const int Clients = 64;
    public const int SpreadRows = 1000;

    public static async Task PrepareAsync(string ownerConnectionString)
    {
        await using var connection = new NpgsqlConnection(ownerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"""
            DROP TABLE IF EXISTS baseline_history, baseline_balances;
            CREATE TABLE baseline_balances (id int PRIMARY KEY, balance bigint NOT NULL);
            CREATE TABLE baseline_history (id bigserial PRIMARY KEY, balance_id int NOT NULL, delta bigint NOT NULL, at timestamptz NOT NULL DEFAULT now());
            INSERT INTO baseline_balances SELECT n, 1000000000 FROM generate_series(1, {SpreadRows}) n;
            ANALYZE baseline_balances;
            """, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Transactions per second of pgbench for <paramref name="duration"/>, on row 1 only (hot) or on rows 1..1000.</summary>
    public static async Task<double> RunAsync(string ownerConnectionString, bool hot, TimeSpan duration)
    {
        var script = Path.Combine(Path.GetTempPath(), $"freeside-baseline-{Environment.ProcessId}-{(hot ? "hot" : "spread")}.sql");
        await File.WriteAllTextAsync(script, (hot ? "\\set id 1\n" : $"\\set id random(1, {SpreadRows})\n") + """
            BEGIN;
            UPDATE baseline_balances SET balance = balance - 1 WHERE id = :id;
            INSERT INTO baseline_history (balance_id, delta) VALUES (:id, -1);
            END;

            """);
        try
        {
            var target = new NpgsqlConnectionStringBuilder(ownerConnectionString);
            var start = new ProcessStartInfo(Binary()) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[]
                     {
                         "-n", "-M", "prepared", "-c", Clients.ToString(CultureInfo.InvariantCulture), "-j", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture),
                         "-T", ((int)duration.TotalSeconds).ToString(CultureInfo.InvariantCulture), "-f", script,
                         "-h", target.Host ?? "127.0.0.1", "-p", target.Port.ToString(CultureInfo.InvariantCulture), "-U", target.Username ?? "freeside", target.Database ?? "postgres",
                     })
            {
                start.ArgumentList.Add(arg);
            }

            if (!string.IsNullOrEmpty(target.Password))
            {
                start.Environment["PGPASSWORD"] = target.Password;
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException("pgbench did not start");
            var stderr = process.StandardError.ReadToEndAsync();
            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            var match = Tps().Match(output);
            if (process.ExitCode != 0 || !match.Success)
            {
                throw new InvalidOperationException($"pgbench failed (exit {process.ExitCode}): {await stderr}{output}");
            }

            return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        finally
        {
            File.Delete(script);
        }
    }

    /// <summary>The newest Debian PostgreSQL's pgbench (the cluster build.sh starts is that version), else the one on PATH.</summary>
    private static string Binary()
    {
        var debian = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : -1))
                .OrderByDescending(d => d.Version)
                .Select(d => Path.Combine(d.Dir, "bin", "pgbench"))
                .FirstOrDefault(File.Exists)
            : null;
        return debian ?? "pgbench";
    }

    [GeneratedRegex(@"tps = ([0-9.]+) \(without initial connection time\)")]
    private static partial Regex Tps();
}
