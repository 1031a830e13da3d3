using Freeside.Features.Common.Errors;

namespace Freeside.Features.Admin;

/// <summary>A reservation would pass a budget the community's admins set; nothing was reserved.</summary>
public sealed record BudgetExceeded(string Cap, long CapMicro, long SpentMicro, long NeededMicro)
    : Error(ErrorKind.PaymentRequired, "budget-exceeded", "The community's budget is used up.",
        $"This call may cost up to {NeededMicro} micro-USD; {SpentMicro} of the {Cap} budget of {CapMicro} micro-USD is spent or held.")
{
    public override IReadOnlyDictionary<string, object?> Extensions { get; } = new Dictionary<string, object?>
    {
        ["cap"] = Cap, ["cap_micro"] = CapMicro, ["spent_micro"] = SpentMicro, ["needed_micro"] = NeededMicro,
    };
}
