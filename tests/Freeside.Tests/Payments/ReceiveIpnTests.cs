using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Payments;
using Freeside.Tests.Ledger;

namespace Freeside.Tests.Payments;

public sealed class ReceiveIpnTests(PaymentsApp app) : IClassFixture<PaymentsApp>
{
    [Fact]
    public async Task ReceiveIpn_Finished_MintsThePacksCreditsOnce()
    {
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        using var client = app.CreateClient();
        var body = PaymentsTestKit.Ipn(orderId, "finished", 9001, "0.000123");

        var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body));
        var outcome = await response.Content.ReadFromJsonAsync<JsonElement>();

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        outcome.GetProperty("result").GetString().ShouldBe("stored");
        outcome.GetProperty("payment_id").GetGuid().ShouldBe(paymentId);
        // The bound: credits land within 2 s of receipt.
        (await app.EventsAppliedAsync(paymentId)).ShouldBeLessThan(TimeSpan.FromSeconds(2));
        (await app.EventOutcomeAsync(paymentId, "finished")).ShouldBe("applied");
        (await app.LotCountAsync(paymentId)).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
        (await app.StatusAsync(paymentId)).ShouldBe("finished");
        (await app.Database.ScalarAsync<string>("SELECT paid_crypto_amount || ' ' || pay_currency FROM payments WHERE id = @id", ("id", paymentId))).ShouldBe("0.000123 btc");
        (await app.Database.ScalarAsync<Guid>("SELECT lot_id FROM payments WHERE id = @id", ("id", paymentId)))
            .ShouldBe(await app.Database.ScalarAsync<Guid>("SELECT id FROM credit_lots WHERE source_ref = @r", ("r", ReceiveIpn.LotSourceRef(paymentId))));
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task ReceiveIpn_FiftyIdenticalFinishedConcurrently_OneLotAndFiftyOk()
    {
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        var body = PaymentsTestKit.Ipn(orderId, "finished", 9002);
        var signature = PaymentsTestKit.Sign(body);
        using var start = new ManualResetEventSlim();

        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Task.Run(async () =>
        {
            using var client = app.CreateClient();
            start.Wait();
            using var response = await client.PostIpnAsync(body, signature);
            return (response.StatusCode, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("result").GetString());
        })).Append(Task.Run(() =>
        {
            start.Set();
            return (HttpStatusCode.OK, (string?)null);
        })));

        responses.ShouldAllBe(r => r.Item1 == HttpStatusCode.OK);
        responses.Count(r => r.Item2 == "stored").ShouldBe(1);
        responses.Count(r => r.Item2 == "duplicate").ShouldBe(49);
        await app.EventsAppliedAsync(paymentId);
        (await app.LotCountAsync(paymentId)).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM webhook_events WHERE payment_id = @id", ("id", paymentId))).ShouldBe(1);
        (await PaymentsApp.CreditedRecorder.SettledForAsync(paymentId)).ShouldBe(1);
        PaymentsApp.CreditedRecorder.Published.Single(p => p.PaymentId == paymentId).CreditsMicro.ShouldBe(10_500_000);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task ReceiveIpn_EveryStatusOfOnePaymentAtOnce_NoDeadlockOneLot()
    {
        // Each IPN stores its event (a foreign-key KEY SHARE lock on the payment) before it locks the
        // payment; all of one payment's statuses at once is where a FOR UPDATE lock deadlocked.
        for (var round = 0; round < 5; round++)
        {
            var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
            var bodies = new[] { "waiting", "confirming", "confirmed", "sending", "finished" }
                .SelectMany(status => Enumerable.Repeat(PaymentsTestKit.Ipn(orderId, status, 9100 + round), 3)).ToList();
            using var start = new ManualResetEventSlim();

            var statuses = await Task.WhenAll(bodies.Select(body => Task.Run(async () =>
            {
                using var client = app.CreateClient();
                start.Wait();
                using var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body));
                return response.StatusCode;
            })).Append(Task.Run(() =>
            {
                start.Set();
                return HttpStatusCode.OK;
            })));

            statuses.ShouldAllBe(s => s == HttpStatusCode.OK);
            await app.EventsAppliedAsync(paymentId);
            (await app.StatusAsync(paymentId)).ShouldBe("finished");
            (await app.LotCountAsync(paymentId)).ShouldBe(1);
            (await app.AvailableAsync(account)).ShouldBe(10_500_000);
        }

        await app.ShouldAuditCleanAsync();
    }

    public static TheoryData<string> BadSignatures() => ["tampered", "other-secret", "truncated", "wrong-header", "missing", "empty"];

    [Theory]
    [MemberData(nameof(BadSignatures))]
    public async Task ReceiveIpn_BadSignature_Is401AndNothingChanges(string kind)
    {
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        using var client = app.CreateClient();
        var body = PaymentsTestKit.Ipn(orderId, "finished", 9100 + kind.Length);
        var good = PaymentsTestKit.Sign(body);

        using var response = kind switch
        {
            "tampered" => await client.PostIpnAsync(body.Replace("10,", "100,", StringComparison.Ordinal), good),
            "other-secret" => await client.PostIpnAsync(body, PaymentsTestKit.Sign(body, "another-secret-0123456789abcdef")),
            "truncated" => await client.PostIpnAsync(body, good[..^1]),
            "wrong-header" => await client.PostIpnAsync(body, good, "x-nowpayments-signature"),
            "missing" => await client.PostIpnAsync(body, null),
            _ => await client.PostIpnAsync(body, ""),
        };
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        problem.GetProperty("type").GetString()!.ShouldEndWith("/ipn-signature-invalid");
        (await app.LotCountAsync(paymentId)).ShouldBe(0);
        (await app.AvailableAsync(account)).ShouldBe(0);
        (await app.StatusAsync(paymentId)).ShouldBe("waiting");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM webhook_events WHERE order_id = @o", ("o", orderId))).ShouldBe(0);
    }

    [Fact]
    public async Task ReceiveIpn_PartiallyPaid_RecordsAmountAndMintsNothing()
    {
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        using var client = app.CreateClient();
        var body = PaymentsTestKit.Ipn(orderId, "partially_paid", 9003, "0.00010");

        using var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        await app.EventsAppliedAsync(paymentId);
        (await app.StatusAsync(paymentId)).ShouldBe("partially_paid");
        (await app.Database.ScalarAsync<string>("SELECT paid_crypto_amount FROM payments WHERE id = @id", ("id", paymentId))).ShouldBe("0.00010");
        (await app.LotCountAsync(paymentId)).ShouldBe(0);
        (await app.AvailableAsync(account)).ShouldBe(0);
    }

    [Fact]
    public async Task ReceiveIpn_UnknownPayment_Is200StoredUnmatched()
    {
        using var client = app.CreateClient();
        var orderId = "nobody-" + Guid.NewGuid().ToString("N");
        var body = PaymentsTestKit.Ipn(orderId, "finished", 9004);

        using var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body));
        var outcome = await response.Content.ReadFromJsonAsync<JsonElement>();

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        outcome.GetProperty("result").GetString().ShouldBe("unmatched");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM webhook_events WHERE order_id = @o AND payment_id IS NULL", ("o", orderId))).ShouldBe(1);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_lots WHERE source = 'purchase' AND source_ref LIKE '%' || @o", ("o", orderId))).ShouldBe(0);
        LedgerTestKit.Counter(app.ScrapeMetrics(), "payments_ipn_total{outcome=\"unmatched\"}").ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task ReceiveIpn_MatchesByInvoiceId_WhenOrderIdIsAbsent()
    {
        var (_, paymentId, account, _) = await app.WaitingPaymentAsync();
        var invoiceId = Random.Shared.NextInt64(1_000_000, 9_000_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await app.Database.ExecuteAsync($"UPDATE payments SET invoice_id = '{invoiceId}' WHERE id = '{paymentId}'");
        using var client = app.CreateClient();
        var body = $$"""{"payment_id":9005,"invoice_id":{{invoiceId}},"payment_status":"finished","actually_paid":1.5,"pay_currency":"usdttrc20"}""";

        using var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        await app.EventsAppliedAsync(paymentId);
        (await app.LotCountAsync(paymentId)).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
    }

    [Fact]
    public async Task ReceiveIpn_ShuffledStatusesWithDuplicates_EndInTheSameStateAndCredits()
    {
        string[] sequence = ["waiting", "confirming", "confirming", "confirmed", "sending", "finished", "finished", "confirmed"];
        var random = new Random(20261124);
        using var client = app.CreateClient();

        for (var round = 0; round < 12; round++)
        {
            var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
            var providerId = 20_000 + round;
            foreach (var status in sequence.OrderBy(_ => random.Next()))
            {
                var body = PaymentsTestKit.Ipn(orderId, status, providerId);
                using var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body));
                response.StatusCode.ShouldBe(HttpStatusCode.OK);
            }

            await app.EventsAppliedAsync(paymentId);
            (await app.StatusAsync(paymentId)).ShouldBe("finished");
            (await app.LotCountAsync(paymentId)).ShouldBe(1);
            (await app.AvailableAsync(account)).ShouldBe(10_500_000);
        }

        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task ReceiveIpn_SignedButNotAnIpn_Is400()
    {
        using var client = app.CreateClient();
        const string body = """{"hello":"world"}""";

        using var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task ReceiveIpn_BodyOver64KB_Is413()
    {
        using var client = app.CreateClient();
        var body = $$"""{"payment_id":1,"payment_status":"finished","pad":"{{new string('x', 70_000)}}"}""";

        using var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body));

        response.StatusCode.ShouldBe(HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task CreditPacks_FromDefaultConfiguration_IntegerMicroUsd()
    {
        using var client = app.CreateClient();

        var packs = await client.GetFromJsonAsync<JsonElement>("/api/v1/credit-packs");

        packs.EnumerateArray().Select(p => (p.GetProperty("id").GetString(), p.GetProperty("price_micro").GetInt64(), p.GetProperty("credits_micro").GetInt64()))
            .ShouldBe([("starter", 5_000_000L, 5_000_000L), ("standard", 10_000_000L, 10_500_000L), ("premium", 25_000_000L, 27_500_000L)]);
        packs[1].GetProperty("price_usd").GetString().ShouldBe("10.00");
    }
}
