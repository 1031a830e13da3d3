using Freeside.Features.Payments;
using Freeside.Features.Payments.Domain;

namespace Freeside.Tests.Payments.Domain;

public sealed class PaymentTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    private static Payment NewPayment() =>
        Payment.Start(Guid.NewGuid(), "order-1", Guid.NewGuid(), Guid.NewGuid(), "0xabc", new CreditPack("standard", 10_000_000, 10_500_000), Now);

    private static readonly ProviderFacts Facts = new("5077125051", "btc", "0.00012");

    [Fact]
    public void Start_FixesPackAndCredits_AndWaits()
    {
        var payment = NewPayment();

        payment.Status.ShouldBe(PaymentStatus.Waiting);
        payment.PackId.ShouldBe("standard");
        payment.PriceMicro.ShouldBe(10_000_000);
        payment.CreditsMicro.ShouldBe(10_500_000);
    }

    [Fact]
    public void Receive_ForwardThroughFinished_MintsOnlyAtFinished()
    {
        var payment = NewPayment();

        var effects = new[] { PaymentStatus.Confirming, PaymentStatus.Confirmed, PaymentStatus.Sending, PaymentStatus.Finished }
            .Select(s => payment.Receive(s, Facts, Now)).ToList();

        effects.ShouldBe([PaymentEffect.Advanced, PaymentEffect.Advanced, PaymentEffect.Advanced, PaymentEffect.Mint]);
        payment.Status.ShouldBe(PaymentStatus.Finished);
        payment.PaidCryptoAmount.ShouldBe("0.00012");
        payment.PayCurrency.ShouldBe("btc");
    }

    [Fact]
    public void Receive_FinishedTwice_SecondIsIgnored()
    {
        var payment = NewPayment();
        payment.Receive(PaymentStatus.Finished, Facts, Now).ShouldBe(PaymentEffect.Mint);

        payment.Receive(PaymentStatus.Finished, Facts, Now).ShouldBe(PaymentEffect.Ignored);
    }

    [Theory]
    [InlineData(PaymentStatus.Waiting)]
    [InlineData(PaymentStatus.Confirming)]
    [InlineData(PaymentStatus.Confirmed)]
    [InlineData(PaymentStatus.Sending)]
    [InlineData(PaymentStatus.PartiallyPaid)]
    [InlineData(PaymentStatus.Expired)]
    [InlineData(PaymentStatus.Failed)]
    public void Receive_BackwardAfterFinished_IsIgnoredAndChangesNothing(PaymentStatus backward)
    {
        var payment = NewPayment();
        payment.Receive(PaymentStatus.Finished, Facts, Now);

        payment.Receive(backward, new ProviderFacts("other", "eth", "9"), Now.AddMinutes(1)).ShouldBe(PaymentEffect.Ignored);

        payment.Status.ShouldBe(PaymentStatus.Finished);
        payment.PaidCryptoAmount.ShouldBe("0.00012");
        payment.UpdatedAt.ShouldBe(Now);
    }

    [Fact]
    public void Receive_PartiallyPaid_RecordsAmountAndMintsNothing()
    {
        var payment = NewPayment();

        payment.Receive(PaymentStatus.PartiallyPaid, new ProviderFacts("1", "eth", "0.5"), Now).ShouldBe(PaymentEffect.Advanced);

        payment.Status.ShouldBe(PaymentStatus.PartiallyPaid);
        payment.PaidCryptoAmount.ShouldBe("0.5");
        payment.Status.Message().ShouldBe("Underpaid — send remaining or contact support");
    }

    [Fact]
    public void Receive_FinishedAfterExpired_StillMints()
    {
        var payment = NewPayment();
        payment.Receive(PaymentStatus.Expired, Facts, Now);

        payment.Receive(PaymentStatus.Finished, Facts, Now).ShouldBe(PaymentEffect.Mint);
    }

    [Fact]
    public void Receive_RefundedAfterFinished_TakesBack_AndBeforeFinished_MintsNothingLater()
    {
        var refundedLate = NewPayment();
        refundedLate.Receive(PaymentStatus.Finished, Facts, Now);
        var refundedEarly = NewPayment();

        refundedLate.Receive(PaymentStatus.Refunded, Facts, Now).ShouldBe(PaymentEffect.TakeBack);
        refundedEarly.Receive(PaymentStatus.Refunded, Facts, Now).ShouldBe(PaymentEffect.Advanced);
        refundedEarly.Receive(PaymentStatus.Finished, Facts, Now).ShouldBe(PaymentEffect.Ignored);
    }

    [Fact]
    public void Minted_BeforeFinished_Throws()
    {
        var payment = NewPayment();

        Should.Throw<InvalidOperationException>(() => payment.Minted(Guid.NewGuid()));
    }

    [Fact]
    public void Statuses_RoundTripTheWireNames()
    {
        foreach (var status in Enum.GetValues<PaymentStatus>())
        {
            PaymentStatuses.FromWire(status.ToWire()).ShouldBe(status);
            status.Message().ShouldNotBeNullOrWhiteSpace();
        }

        PaymentStatuses.FromWire("FINISHED").ShouldBeNull();
    }

    public static TheoryData<PaymentStatus[]> Sequences() => new()
    {
        new[] { PaymentStatus.Waiting, PaymentStatus.Confirming, PaymentStatus.Confirming, PaymentStatus.Confirmed, PaymentStatus.Sending, PaymentStatus.Finished, PaymentStatus.Finished },
        new[] { PaymentStatus.Waiting, PaymentStatus.Confirming, PaymentStatus.PartiallyPaid, PaymentStatus.PartiallyPaid, PaymentStatus.Finished, PaymentStatus.Confirmed },
        new[] { PaymentStatus.Waiting, PaymentStatus.Finished, PaymentStatus.Refunded, PaymentStatus.Refunded, PaymentStatus.Confirming, PaymentStatus.Finished },
        new[] { PaymentStatus.Waiting, PaymentStatus.Confirming, PaymentStatus.Expired, PaymentStatus.Expired, PaymentStatus.Waiting, PaymentStatus.Failed },
    };

    /// <summary>Every ordering (all n! of them) of a status sequence with duplicates ends in the same state and the same net credits.</summary>
    [Theory]
    [MemberData(nameof(Sequences))]
    public void Receive_EveryOrdering_EndsInTheSameStateAndCredits(PaymentStatus[] sequence)
    {
        var expectedStatus = sequence.Max();
        var expectedNet = sequence.Contains(PaymentStatus.Finished) && !sequence.Contains(PaymentStatus.Refunded) ? 1 : 0;
        var orderings = 0;

        foreach (var ordering in Permutations(sequence))
        {
            var payment = NewPayment();
            var effects = ordering.Select(s => payment.Receive(s, Facts, Now)).ToList();
            var mints = effects.Count(e => e == PaymentEffect.Mint);
            var takeBacks = effects.Count(e => e == PaymentEffect.TakeBack);

            payment.Status.ShouldBe(expectedStatus, string.Join(",", ordering));
            mints.ShouldBeLessThanOrEqualTo(1);
            (mints - takeBacks).ShouldBe(expectedNet, string.Join(",", ordering));
            orderings++;
        }

        orderings.ShouldBe(Enumerable.Range(1, sequence.Length).Aggregate(1, (a, b) => a * b));
    }

    private static IEnumerable<PaymentStatus[]> Permutations(PaymentStatus[] items)
    {
        if (items.Length <= 1)
        {
            yield return items;
            yield break;
        }

        for (var i = 0; i < items.Length; i++)
        {
            var rest = items.Where((_, j) => j != i).ToArray();
            foreach (var tail in Permutations(rest))
            {
                yield return [items[i], .. tail];
            }
        }
    }
}
