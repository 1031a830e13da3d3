using System.Diagnostics.Metrics;
using Freeside.Features.Common.Observability;

namespace Freeside.Features.Payments;

/// <summary>The payments capability's instruments, on Freeside's meter.</summary>
public sealed class PaymentsMetrics
{
    private readonly Counter<long> _ipns;
    private readonly Counter<long> _minted;

    public PaymentsMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(FreesideMetrics.MeterName);
        _ipns = meter.CreateCounter<long>("payments_ipn", null, "Signed IPNs accepted, by outcome (applied, ignored, duplicate, unmatched).");
        _minted = meter.CreateCounter<long>("payments_minted_micro_usd", null, "Credits minted by finished payments, in micro-USD.");
    }

    public void Ipn(string outcome) => _ipns.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void Minted(long micro) => _minted.Add(micro);
}
