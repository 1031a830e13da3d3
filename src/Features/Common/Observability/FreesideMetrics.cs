using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Freeside.Features.Common.Observability;

/// <summary>Every instrument Freeside itself publishes, on the meter <see cref="MeterName"/>.</summary>
public sealed class FreesideMetrics : IDisposable
{
    public const string MeterName = "Freeside";

    private readonly Meter _meter;
    private readonly Histogram<double> _mediatorDuration;
    private readonly Counter<long> _mediatorFailures;
    private readonly Counter<long> _conservationChecks;
    private readonly Counter<long> _conservationFailures;

    public FreesideMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _mediatorDuration = _meter.CreateHistogram<double>("freeside.mediator.request.duration", "s",
            "Time spent in the mediator pipeline, by request type and outcome.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        _mediatorFailures = _meter.CreateCounter<long>("freeside.mediator.request.failures", null,
            "Requests that ended in an expected failure or an exception.");
        _conservationChecks = _meter.CreateCounter<long>("conservation_guard_checks", null,
            "Conservation guard checks, by result.");
        _conservationFailures = _meter.CreateCounter<long>("conservation_guard_failures", null,
            "Conservation guard violations, by invariant.");
    }

    public Meter Meter => _meter;

    public void RecordMediatorRequest(string requestType, string outcome, TimeSpan elapsed)
    {
        var tags = new TagList { { "request_type", requestType }, { "outcome", outcome.StartsWith("failure", StringComparison.Ordinal) ? "failure" : outcome } };
        _mediatorDuration.Record(elapsed.TotalSeconds, tags);
        if (outcome != "success")
        {
            _mediatorFailures.Add(1, new TagList { { "request_type", requestType }, { "reason", outcome } });
        }
    }

    public void ConservationCheck(bool passed) =>
        _conservationChecks.Add(1, new KeyValuePair<string, object?>("result", passed ? "ok" : "violated"));

    public void ConservationFailure(string invariant) =>
        _conservationFailures.Add(1, new KeyValuePair<string, object?>("invariant", invariant));

    public void Dispose() => _meter.Dispose();
}
