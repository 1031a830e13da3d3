using System.Diagnostics.Metrics;
using Freeside.Features.Common.Observability;
using Polly.CircuitBreaker;

namespace Freeside.Features.Inference;

/// <summary>The inference bridge's instruments, on Freeside's meter.</summary>
public sealed class InferenceMetrics
{
    private readonly Counter<long> _retries;
    private readonly Counter<long> _shortCircuited;
    private readonly Meter _meter;
    private Func<CircuitState>? _breaker;

    public InferenceMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(FreesideMetrics.MeterName);
        _retries = _meter.CreateCounter<long>("finn_retries", null, "Calls to finn retried before the first byte (502/503 or no connection).");
        _shortCircuited = _meter.CreateCounter<long>("finn_breaker_short_circuits", null,
            "Calls answered 503 at once because finn's circuit breaker was open.");
        _meter.CreateObservableGauge("finn_breaker_state", () => (int)(_breaker?.Invoke() ?? CircuitState.Closed), null,
            "finn's circuit breaker: 0 closed, 1 open, 2 half-open, 3 isolated.");
    }

    public void Retried() => _retries.Add(1);

    public void ShortCircuited() => _shortCircuited.Add(1);

    public void ObserveBreaker(Func<CircuitState> state) => _breaker = state;
}
