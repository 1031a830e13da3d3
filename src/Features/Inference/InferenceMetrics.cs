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
    private readonly Counter<long> _poolClaimViolations;
    private readonly Counter<long> _filtered;
    private readonly Counter<long> _finalized;
    private readonly Counter<long> _tokens;
    private readonly Counter<long> _micro;
    private readonly Counter<long> _ensembles;
    private readonly Counter<long> _ensembleMicro;
    private readonly Histogram<double> _ttft;
    private readonly Histogram<double> _duration;
    private Func<CircuitState>? _breaker;

    public InferenceMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(FreesideMetrics.MeterName);
        _retries = _meter.CreateCounter<long>("finn_retries", null, "Calls to finn retried before the first byte (502/503 or no connection).");
        _shortCircuited = _meter.CreateCounter<long>("finn_breaker_short_circuits", null,
            "Calls answered 503 at once because finn's circuit breaker was open.");
        _poolClaimViolations = _meter.CreateCounter<long>("pool_claim_violations_total", null,
            "Calls where finn reported a pool outside the allowed set; charged nothing.");
        _filtered = _meter.CreateCounter<long>("anti_narration_filtered", null, "Identity terms replaced in streamed text.");
        _finalized = _meter.CreateCounter<long>("inference_finalizations", null, "Chat settlements, by billing method and outcome.");
        _tokens = _meter.CreateCounter<long>("inference_tokens", null, "Tokens billed, by pool and direction.");
        _micro = _meter.CreateCounter<long>("inference_charged_micro_usd", null, "Micro-USD charged for chats, by pool.");
        _ensembles = _meter.CreateCounter<long>("inference_ensembles", null, "Ensemble chats settled, by strategy, N and outcome.");
        _ensembleMicro = _meter.CreateCounter<long>("inference_ensemble_charged_micro_usd", null,
            "Micro-USD charged for ensemble chats (also counted in inference_charged_micro_usd), by strategy.");
        var seconds = new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] };
        _ttft = _meter.CreateHistogram<double>("inference_time_to_first_token", "s", "From calling finn to its stream_start, by pool.", advice: seconds);
        _duration = _meter.CreateHistogram<double>("inference_duration", "s", "From calling finn to settlement, by pool.", advice: seconds);
        _meter.CreateObservableGauge("finn_breaker_state", () => (int)(_breaker?.Invoke() ?? CircuitState.Closed), null,
            "finn's circuit breaker: 0 closed, 1 open, 2 half-open, 3 isolated.");
    }

    public void Retried() => _retries.Add(1);

    public void ShortCircuited() => _shortCircuited.Add(1);

    public void PoolClaimViolation(string pool) => _poolClaimViolations.Add(1, new KeyValuePair<string, object?>("pool", pool));

    public void Filtered(int hits)
    {
        if (hits > 0)
        {
            _filtered.Add(hits);
        }
    }

    public void FirstToken(string pool, TimeSpan elapsed) => _ttft.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("pool", pool));

    public void Finalized(string billingMethod, string outcome) => _finalized.Add(1,
        new KeyValuePair<string, object?>("billing_method", billingMethod), new KeyValuePair<string, object?>("outcome", outcome));

    public void Settled(string pool, long input, long output, long chargedMicro, TimeSpan elapsed)
    {
        var tag = new KeyValuePair<string, object?>("pool", pool);
        _tokens.Add(input, tag, new KeyValuePair<string, object?>("direction", "input"));
        _tokens.Add(output, tag, new KeyValuePair<string, object?>("direction", "output"));
        _micro.Add(chargedMicro, tag);
        _duration.Record(elapsed.TotalSeconds, tag);
    }

    public void Ensemble(string strategy, int n, string outcome, long chargedMicro)
    {
        var tag = new KeyValuePair<string, object?>("strategy", strategy);
        _ensembles.Add(1, tag, new KeyValuePair<string, object?>("n", n), new KeyValuePair<string, object?>("outcome", outcome));
        _ensembleMicro.Add(chargedMicro, tag);
    }

    public void ObserveBreaker(Func<CircuitState> state) => _breaker = state;
}
