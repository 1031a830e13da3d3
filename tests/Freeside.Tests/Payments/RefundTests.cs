using System.Net;
using Freeside.Tests.Ledger;

namespace Freeside.Tests.Payments;

/// <summary>
/// Refunds are only half done: the status is recorded, the credits are NOT taken back yet (no ledger
/// take-back/debt operation exists). This pins today's behaviour and that an operator is told.
/// </summary>
public sealed class RefundTests(PaymentsApp app) : IClassFixture<PaymentsApp>
{
    [Fact]
    public async Task ReceiveIpn_RefundedAfterFinished_RecordsRefund_CountsItForAnOperator()
    {
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        using var client = app.CreateClient();
        var before = LedgerTestKit.Counter(app.ScrapeMetrics(), "payments_refunds_not_taken_back_total");

        foreach (var status in new[] { "finished", "refunded" })
        {
            var body = PaymentsTestKit.Ipn(orderId, status, 71_001);
            (await client.PostIpnAsync(body, PaymentsTestKit.Sign(body))).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        (await app.StatusAsync(paymentId)).ShouldBe("refunded");
        LedgerTestKit.Counter(app.ScrapeMetrics(), "payments_refunds_not_taken_back_total").ShouldBe(before + 1);
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
    }

    [Fact]
    public async Task ReceiveIpn_RefundedBeforeFinished_NeverMints()
    {
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        using var client = app.CreateClient();

        foreach (var status in new[] { "refunded", "finished" })
        {
            var body = PaymentsTestKit.Ipn(orderId, status, 71_002);
            (await client.PostIpnAsync(body, PaymentsTestKit.Sign(body))).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        (await app.StatusAsync(paymentId)).ShouldBe("refunded");
        (await app.LotCountAsync(paymentId)).ShouldBe(0);
        (await app.AvailableAsync(account)).ShouldBe(0);
    }
}
