using System.Globalization;
using System.Text;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Freeside.Features.Common.Observability;

/// <summary>
/// Renders OpenTelemetry's aggregated metrics in the Prometheus text exposition format (0.0.4).
/// The registry copy has no OpenTelemetry Prometheus exporter, so this pull reader plays that part:
/// a scrape calls <see cref="Scrape"/>, which collects synchronously and renders the batch.
/// </summary>
public sealed class PrometheusExporter : BaseExporter<Metric>
{
    private readonly Lock _gate = new();
    private StringBuilder? _target;

    public PrometheusExporter() => Reader = new BaseExportingMetricReader(this) { TemporalityPreference = MetricReaderTemporalityPreference.Cumulative };

    public MetricReader Reader { get; }

    public string Scrape()
    {
        lock (_gate)
        {
            _target = new StringBuilder(16 * 1024);
            try
            {
                Reader.Collect(timeoutMilliseconds: 5000);
                return _target.ToString();
            }
            finally
            {
                _target = null;
            }
        }
    }

    public override ExportResult Export(in Batch<Metric> batch)
    {
        if (_target is null)
        {
            return ExportResult.Success;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var metric in batch)
        {
            Render(_target, metric, seen);
        }

        return ExportResult.Success;
    }

    private static void Render(StringBuilder output, Metric metric, HashSet<string> seen)
    {
        var isCounter = metric.MetricType is MetricType.LongSum or MetricType.DoubleSum;
        var isHistogram = metric.MetricType == MetricType.Histogram;
        var name = MetricName(metric.Name, metric.Unit, isCounter);
        if (!seen.Add(name))
        {
            return;
        }

        var type = isHistogram ? "histogram" : isCounter ? "counter" : "gauge";
        if (!string.IsNullOrEmpty(metric.Description))
        {
            output.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(metric.Description)).Append('\n');
        }

        output.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        foreach (ref readonly var point in metric.GetMetricPoints())
        {
            var labels = Labels(point.Tags);
            switch (metric.MetricType)
            {
                case MetricType.Histogram:
                    long cumulative = 0;
                    foreach (var bucket in point.GetHistogramBuckets())
                    {
                        cumulative += bucket.BucketCount;
                        var le = double.IsPositiveInfinity(bucket.ExplicitBound) ? "+Inf" : Number(bucket.ExplicitBound);
                        output.Append(name).Append("_bucket").Append(WithLabel(labels, "le", le)).Append(' ').Append(cumulative).Append('\n');
                    }

                    output.Append(name).Append("_sum").Append(Braced(labels)).Append(' ').Append(Number(point.GetHistogramSum())).Append('\n');
                    output.Append(name).Append("_count").Append(Braced(labels)).Append(' ').Append(point.GetHistogramCount()).Append('\n');
                    break;
                case MetricType.LongSum or MetricType.LongSumNonMonotonic:
                    output.Append(name).Append(Braced(labels)).Append(' ').Append(point.GetSumLong()).Append('\n');
                    break;
                case MetricType.DoubleSum or MetricType.DoubleSumNonMonotonic:
                    output.Append(name).Append(Braced(labels)).Append(' ').Append(Number(point.GetSumDouble())).Append('\n');
                    break;
                case MetricType.LongGauge:
                    output.Append(name).Append(Braced(labels)).Append(' ').Append(point.GetGaugeLastValueLong()).Append('\n');
                    break;
                case MetricType.DoubleGauge:
                    output.Append(name).Append(Braced(labels)).Append(' ').Append(Number(point.GetGaugeLastValueDouble())).Append('\n');
                    break;
                default:
                    break;
            }
        }
    }

    internal static string MetricName(string name, string? unit, bool isCounter)
    {
        var builder = new StringBuilder(name.Length + 16);
        foreach (var c in name)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c == '_' || c == ':' ? c : '_');
        }

        var suffix = unit switch
        {
            "s" => "_seconds",
            "ms" => "_milliseconds",
            "By" => "_bytes",
            _ => "",
        };
        var result = builder.ToString();
        if (suffix.Length > 0 && !result.EndsWith(suffix, StringComparison.Ordinal))
        {
            result += suffix;
        }

        if (isCounter && !result.EndsWith("_total", StringComparison.Ordinal))
        {
            result += "_total";
        }

        return result;
    }

    private static string Labels(ReadOnlyTagCollection tags)
    {
        var builder = new StringBuilder();
        foreach (var tag in tags)
        {
            if (builder.Length > 0)
            {
                builder.Append(',');
            }

            foreach (var c in tag.Key)
            {
                builder.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
            }

            builder.Append("=\"").Append(EscapeLabel(Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "")).Append('"');
        }

        return builder.ToString();
    }

    private static string Braced(string labels) => labels.Length == 0 ? "" : "{" + labels + "}";

    private static string WithLabel(string labels, string key, string value) =>
        "{" + (labels.Length == 0 ? "" : labels + ",") + key + "=\"" + value + "\"}";

    private static string Number(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : double.IsNaN(value) ? "NaN"
        : value.ToString("R", CultureInfo.InvariantCulture);

    private static string EscapeLabel(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string EscapeHelp(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
