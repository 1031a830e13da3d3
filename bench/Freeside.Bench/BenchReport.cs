using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Freeside.Bench;

/// <summary>One benchmark's figures, written as bench/results/NAME.json plus a short markdown table.</summary>
public sealed class BenchReport(string name)
{
    private readonly List<(string Key, double Value, double? Target, bool HigherIsBetter)> _figures = [];

    public string Name { get; } = name;

    public Dictionary<string, object> Parameters { get; } = [];

    public bool MeetsTargets => _figures.All(f => f.Target is not { } t || (f.HigherIsBetter ? f.Value >= t : f.Value <= t));

    public BenchReport Add(string key, double value, double? target = null, bool higherIsBetter = true)
    {
        _figures.Add((key, Math.Round(value, 3), target, higherIsBetter));
        return this;
    }

    public async Task WriteAsync(string directory)
    {
        Directory.CreateDirectory(directory);
        var json = new Dictionary<string, object?>
        {
            ["benchmark"] = Name,
            ["run_at"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["commit"] = Git("rev-parse", "--short", "HEAD"),
            ["machine"] = new Dictionary<string, object>
            {
                ["cores"] = Environment.ProcessorCount,
                ["os"] = RuntimeInformation.OSDescription,
                ["runtime"] = RuntimeInformation.FrameworkDescription,
                ["cpu"] = CpuModel(),
                // Other work on the machine moves every figure; the 1/5/15-minute load averages as the run ends.
                ["load_average"] = File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown",
            },
            ["parameters"] = Parameters,
            ["targets_met"] = MeetsTargets,
        };
        foreach (var (key, value, _, _) in _figures)
        {
            json[key] = value;
        }

        json["targets"] = _figures.Where(f => f.Target is not null).ToDictionary(f => f.Key, f => (object)new { target = f.Target, higher_is_better = f.HigherIsBetter });
        var path = Path.Combine(directory, Name + ".json");
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }) + "\n");

        var table = new StringBuilder();
        table.Append(CultureInfo.InvariantCulture, $"| {Name} | value | target |\n|---|---:|---:|\n");
        foreach (var (key, value, target, higher) in _figures)
        {
            var mark = target is { } t ? (higher ? value >= t : value <= t) ? " ✓" : " ✗" : "";
            table.Append(CultureInfo.InvariantCulture, $"| {key} | {value:0.###} | {(target is { } tt ? (higher ? "≥ " : "≤ ") + tt.ToString(CultureInfo.InvariantCulture) : "")}{mark} |\n");
        }

        await File.WriteAllTextAsync(Path.Combine(directory, Name + ".md"), table.ToString());
        Console.WriteLine(table);
        Console.WriteLine($"wrote {path}");
    }

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string Git(params string[] args)
    {
        try
        {
            var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in args)
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0 ? output : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }
}

/// <summary>Latency percentiles from recorded samples.</summary>
public static class Percentiles
{
    public static double Of(List<double> samples, double percentile)
    {
        if (samples.Count == 0)
        {
            return 0;
        }

        samples.Sort();
        var index = (int)Math.Ceiling(percentile / 100.0 * samples.Count) - 1;
        return samples[Math.Clamp(index, 0, samples.Count - 1)];
    }
}
