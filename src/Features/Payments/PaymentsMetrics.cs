using System.Diagnostics.Metrics;
using Freeside.Features.Common.Observability;

namespace Freeside.Features.Payments;

/// <summary>The payments capability's instruments, on Freeside's meter.</summary>
public sealed class PaymentsMetrics
{
    private readonly Counter<long> _ipns;
    private readonly Counter<long> _minted;
    private readonly Counter<long> _takenBack;
    private readonly Counter<long> _debt;
    private readonly Counter<long> _reconciled;
    private readonly Counter<long> _applied;
    private readonly Counter<long> _applyFailures;
    private readonly Histogram<double> _applyDelay;

    public PaymentsMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(FreesideMetrics.MeterName);
        _ipns = meter.CreateCounter<long>("payments_ipn", null, "Signed IPNs answered, by outcome (stored, duplicate, unmatched, ignored).");
        _applied = meter.CreateCounter<long>("payments_ipn_applied", null,
            "Stored IPNs the applier ran through the state machine, by effect (applied: the payment moved; ignored: repeated or backward).");
        _applyFailures = meter.CreateCounter<long>("payments_ipn_apply_failures", null,
            "Rounds in which one payment's stored IPNs could not be applied (left pending and retried with backoff).");
        _applyDelay = meter.CreateHistogram<double>("payments_ipn_apply_delay", "s", "From an IPN's receipt to the transaction that applies it.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60] });
        _takenBack = meter.CreateCounter<long>("payments_refund_taken_back_micro_usd", null, "Credits taken back by refunds of finished payments, in micro-USD.");
        _debt = meter.CreateCounter<long>("payments_refund_debt_micro_usd", null,
            "Credits a refund could not take back (already spent), recorded as account debt, in micro-USD.");
        _reconciled = meter.CreateCounter<long>("payments_reconciled", null, "Payments asked about at NOWPayments by reconciliation, by outcome.");
        _minted = meter.CreateCounter<long>("payments_minted_micro_usd", null, "Credits minted by finished payments, in micro-USD.");
    }

    public void Ipn(string outcome) => _ipns.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void Applied(string effect, TimeSpan sinceReceipt)
    {
        _applied.Add(1, new KeyValuePair<string, object?>("effect", effect));
        _applyDelay.Record(sinceReceipt.TotalSeconds);
    }

    public void ApplyFailed() => _applyFailures.Add(1);

    public void Minted(long micro) => _minted.Add(micro);

    public void TakenBack(long takenMicro, long debtMicro)
    {
        _takenBack.Add(takenMicro);
        _debt.Add(debtMicro);
    }

    public void Reconciled(string outcome) => _reconciled.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
}
