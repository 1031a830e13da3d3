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

    public PaymentsMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(FreesideMetrics.MeterName);
        _ipns = meter.CreateCounter<long>("payments_ipn", null, "Signed IPNs accepted, by outcome (applied, ignored, duplicate, unmatched).");
        _takenBack = meter.CreateCounter<long>("payments_refund_taken_back_micro_usd", null, "Credits taken back by refunds of finished payments, in micro-USD.");
        _debt = meter.CreateCounter<long>("payments_refund_debt_micro_usd", null,
            "Credits a refund could not take back (already spent), recorded as account debt, in micro-USD.");
        _reconciled = meter.CreateCounter<long>("payments_reconciled", null, "Payments asked about at NOWPayments by reconciliation, by outcome.");
        _minted = meter.CreateCounter<long>("payments_minted_micro_usd", null, "Credits minted by finished payments, in micro-USD.");
    }

    public void Ipn(string outcome) => _ipns.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void Minted(long micro) => _minted.Add(micro);

    public void TakenBack(long takenMicro, long debtMicro)
    {
        _takenBack.Add(takenMicro);
        _debt.Add(debtMicro);
    }

    public void Reconciled(string outcome) => _reconciled.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
}
