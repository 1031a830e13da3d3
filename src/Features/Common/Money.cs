using System.Globalization;

namespace Freeside.Features.Common;

/// <summary>
/// An amount of credit in micro-USD (1 USD = 1,000,000). Arithmetic is checked: an overflow is a bug
/// and throws rather than wrapping into a plausible-looking balance.
/// </summary>
public readonly record struct Money(long Micro) : IComparable<Money>
{
    public const long MicroPerUsd = 1_000_000;

    public static Money Zero => default;

    public bool IsNegative => Micro < 0;

    public bool IsZero => Micro == 0;

    public bool IsPositive => Micro > 0;

    public static Money FromMicro(long micro) => new(micro);

    public static Money Min(Money left, Money right) => left.Micro <= right.Micro ? left : right;

    public static Money Max(Money left, Money right) => left.Micro >= right.Micro ? left : right;

    public static Money operator +(Money left, Money right) => new(checked(left.Micro + right.Micro));

    public static Money operator -(Money left, Money right) => new(checked(left.Micro - right.Micro));

    public static bool operator <(Money left, Money right) => left.Micro < right.Micro;

    public static bool operator >(Money left, Money right) => left.Micro > right.Micro;

    public static bool operator <=(Money left, Money right) => left.Micro <= right.Micro;

    public static bool operator >=(Money left, Money right) => left.Micro >= right.Micro;

    public static Money Add(Money left, Money right) => left + right;

    public static Money Sum(IEnumerable<Money> amounts) => amounts.Aggregate(Zero, (sum, amount) => sum + amount);

    public static Money Subtract(Money left, Money right) => left - right;

    public int CompareTo(Money other) => Micro.CompareTo(other.Micro);

    public override string ToString() => Micro.ToString(CultureInfo.InvariantCulture) + " micro-USD";
}
