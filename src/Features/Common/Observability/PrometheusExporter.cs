using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Freeside.Features.Common.Observability;

/// <summary>
/// Aggregates this host's measurements and renders them in the Prometheus text exposition format
/// (0.0.4). The registry copy has no OpenTelemetry Prometheus exporter, so this listens itself.
/// It takes only meters this host's <see cref="IMeterFactory"/> created (or process-wide ones such
/// as System.Runtime): several hosts in one process (tests) each see their own figures.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    private static readonly double[] DefaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Series> _series = new();
    private readonly Lock _scrapeGate = new();

    public PrometheusExporter(IMeterFactory meterFactory, IEnumerable<string> meterNames)
    {
        var names = meterNames.ToHashSet(StringComparer.Ordinal);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            var meter = instrument.Meter;
            if (names.Contains(meter.Name) && (meter.Scope is null || ReferenceEquals(meter.Scope, meterFactory)))
            {
                _series[instrument] = new Series(instrument);
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.MeasurementsCompleted = (instrument, _) => _series.TryRemove(instrument, out Series? _);
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<float>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    public string Scrape()
    {
        lock (_scrapeGate)
        {
            _listener.RecordObservableInstruments();
            var output = new StringBuilder(16 * 1024);
            foreach (var group in _series.Values.GroupBy(s => s.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var first = group.First();
                if (!string.IsNullOrEmpty(first.Instrument.Description))
                {
                    output.Append("# HELP ").Append(group.Key).Append(' ').Append(Escape(first.Instrument.Description, label: false)).Append('\n');
                }

                output.Append("# TYPE ").Append(group.Key).Append(' ').Append(first.Type).Append('\n');
                var points = new SortedDictionary<string, Point>(StringComparer.Ordinal);
                foreach (var series in group)
                {
                    foreach (var (labels, point) in series.Points)
                    {
                        points[labels] = points.TryGetValue(labels, out var existing) ? existing.Merge(point) : point.Copy();
                    }
                }

                foreach (var (labels, point) in points)
                {
                    point.Render(output, group.Key, labels);
                }
            }

            return output.ToString();
        }
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (_series.TryGetValue(instrument, out var series))
        {
            series.Record(value, Labels(tags));
        }
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0)
        {
            return "";
        }

        var sorted = tags.ToArray();
        Array.Sort(sorted, (a, b) => string.CompareOrdinal(a.Key, b.Key));
        var builder = new StringBuilder();
        foreach (var tag in sorted)
        {
            if (builder.Length > 0)
            {
                builder.Append(',');
            }

            builder.Append(Sanitize(tag.Key)).Append("=\"")
                .Append(Escape(Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "", label: true)).Append('"');
        }

        return builder.ToString();
    }

    internal static string MetricName(string name, string? unit, bool isCounter)
    {
        var result = Sanitize(name);
        var suffix = unit switch
        {
            "s" => "_seconds",
            "ms" => "_milliseconds",
            "By" => "_bytes",
            _ => "",
        };
        if (suffix.Length > 0 && !result.EndsWith(suffix, StringComparison.Ordinal))
        {
            result += suffix;
        }

        if (isCounter && !result.EndsWith("_total", StringComparison.Ordinal))
        {
            result += "_total";
        }
        else if (!isCounter && result.EndsWith("_count", StringComparison.Ordinal))
        {
            // "_count" belongs to histograms and summaries in Prometheus, so a gauge such as
            // dotnet.assembly.count or db.client.connection.count is named for what it counts:
            // dotnet_assemblies, db_client_connections (as go_goroutines, process_open_fds).
            result = Plural(result[..^"_count".Length]);
        }

        return result;
    }

    private static string Plural(string name) =>
        name.EndsWith('y') && name.Length > 1 && !"aeiou".Contains(name[^2], StringComparison.Ordinal) ? name[..^1] + "ies"
        : name.EndsWith('s') || name.EndsWith('x') || name.EndsWith("ch", StringComparison.Ordinal) || name.EndsWith("sh", StringComparison.Ordinal) ? name + "es"
        : name + "s";

    private static string Sanitize(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }

        return builder.ToString();
    }

    private static string Escape(string value, bool label)
    {
        var escaped = value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
        return label ? escaped.Replace("\"", "\\\"", StringComparison.Ordinal) : escaped;
    }

    private static string Number(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN"
        : value.ToString("R", CultureInfo.InvariantCulture);

    private enum Kind
    {
        Counter,
        Gauge,
        ObservedCounter,
        ObservedGauge,
        Histogram,
    }

    private sealed class Series
    {
        private readonly Kind _kind;
        private readonly double[] _bounds;

        public Series(Instrument instrument)
        {
            Instrument = instrument;
            var type = instrument.GetType().GetGenericTypeDefinition();
            _kind = type == typeof(Counter<>) ? Kind.Counter
                : type == typeof(UpDownCounter<>) ? Kind.Gauge
                : type == typeof(ObservableCounter<>) ? Kind.ObservedCounter
                : type == typeof(Histogram<>) ? Kind.Histogram
                : Kind.ObservedGauge;
            _bounds = instrument switch
            {
                Histogram<double> { Advice.HistogramBucketBoundaries: { } b } => [.. b],
                Histogram<long> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
                _ => DefaultBuckets,
            };
            var isCounter = _kind is Kind.Counter or Kind.ObservedCounter;
            Name = MetricName(instrument.Name, instrument.Unit, isCounter);
            Type = _kind == Kind.Histogram ? "histogram" : isCounter ? "counter" : "gauge";
        }

        public Instrument Instrument { get; }

        public string Name { get; }

        public string Type { get; }

        public ConcurrentDictionary<string, Point> Points { get; } = new(StringComparer.Ordinal);

        public void Record(double value, string labels)
        {
            var point = Points.GetOrAdd(labels, _ => new Point(_kind == Kind.Histogram ? _bounds : null));
            point.Add(value, replace: _kind is Kind.ObservedCounter or Kind.ObservedGauge);
        }
    }

    private sealed class Point(double[]? bounds)
    {
        private readonly Lock _gate = new();
        private readonly long[]? _buckets = bounds is null ? null : new long[bounds.Length + 1];
        private double _value;
        private long _count;

        public void Add(double value, bool replace)
        {
            lock (_gate)
            {
                _count++;
                _value = replace ? value : _value + value;
                if (_buckets is not null)
                {
                    var index = Array.BinarySearch(bounds!, value);
                    _buckets[index >= 0 ? index : ~index]++;
                }
            }
        }

        public Point Copy()
        {
            var copy = new Point(bounds);
            copy.Merge(this);
            return copy;
        }

        public Point Merge(Point other)
        {
            lock (other._gate)
            {
                _value += other._value;
                _count += other._count;
                if (_buckets is not null && other._buckets is not null)
                {
                    for (var i = 0; i < _buckets.Length; i++)
                    {
                        _buckets[i] += other._buckets[i];
                    }
                }
            }

            return this;
        }

        public void Render(StringBuilder output, string name, string labels)
        {
            if (_buckets is null)
            {
                output.Append(name).Append(Braced(labels)).Append(' ').Append(Number(_value)).Append('\n');
                return;
            }

            long cumulative = 0;
            for (var i = 0; i < _buckets.Length; i++)
            {
                cumulative += _buckets[i];
                var le = i < bounds!.Length ? Number(bounds[i]) : "+Inf";
                output.Append(name).Append("_bucket{").Append(labels.Length > 0 ? labels + "," : "").Append("le=\"").Append(le).Append("\"} ").Append(cumulative).Append('\n');
            }

            output.Append(name).Append("_sum").Append(Braced(labels)).Append(' ').Append(Number(_value)).Append('\n');
            output.Append(name).Append("_count").Append(Braced(labels)).Append(' ').Append(_count).Append('\n');
        }

        private static string Braced(string labels) => labels.Length == 0 ? "" : "{" + labels + "}";
    }
}
