using System.Diagnostics.Metrics;
using Freeside.Features.Common.Observability;

namespace Freeside.Features.Ledger;

/// <summary>The ledger's instruments, on Freeside's meter.</summary>
public sealed class LedgerMetrics
{
    private readonly Counter<long> _clamped;
    private readonly Counter<long> _orphansReleased;
    private readonly Counter<long> _lotsExpired;
    private readonly Counter<long> _reversedMicro;
    private readonly Histogram<long> _batchSize;
    private double _oldestPendingSeconds;

    public LedgerMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(FreesideMetrics.MeterName);
        _clamped = meter.CreateCounter<long>("ledger_charge_clamped", null,
            "Finalizations that asked to charge more than the hold; the charge was clamped to the hold.");
        _orphansReleased = meter.CreateCounter<long>("ledger_orphaned_holds_released", null,
            "Holds released by the orphan sweep because nobody finalized or released them in time.");
        _lotsExpired = meter.CreateCounter<long>("ledger_lots_expired", null, "Lots whose remaining credit expired.");
        _reversedMicro = meter.CreateCounter<long>("ledger_reversed_micro_usd", null, "Charges given back by reversals, in micro-USD.");
        _batchSize = meter.CreateHistogram<long>("ledger_batch_operations", null,
            "Ledger operations carried by one batched transaction.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256] });
        meter.CreateObservableGauge("ledger_oldest_pending_hold_age", () => Volatile.Read(ref _oldestPendingSeconds), "s",
            "Age of the oldest pending hold when the orphan sweep last ran.");
    }

    public void ChargeClamped() => _clamped.Add(1);

    public void OrphansReleased(int count) => _orphansReleased.Add(count);

    public void LotsExpired(int count) => _lotsExpired.Add(count);

    public void Reversed(long amountMicro) => _reversedMicro.Add(amountMicro);

    public void Batch(int operations) => _batchSize.Record(operations);

    public void OldestPendingHold(TimeSpan age) => Volatile.Write(ref _oldestPendingSeconds, Math.Max(0, age.TotalSeconds));
}
