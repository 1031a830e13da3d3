using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Tests.Identity;
using Freeside.Tests.Ledger;
using Freeside.Tests.Payments.NowPayments;

namespace Freeside.Tests.Payments;

public sealed class CreatePaymentTests(PaymentsApp app) : IClassFixture<PaymentsApp>
{
    private async Task<HttpClient> SignedInAsync(TestWallet wallet) =>
        app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, wallet));

    [Fact]
    public async Task Checkout_Community_Is201WaitingWithInvoice_AndFinishedIpnCreditsIt()
    {
        var (slug, account) = await app.FundedCommunityAsync(0);
        using var client = await SignedInAsync(TestWallet.Third);

        var response = await client.PostAsJsonAsync("/api/v1/payments", new { pack_id = "premium", community = slug });
        var payment = await response.Content.ReadFromJsonAsync<JsonElement>();

        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        payment.GetProperty("status").GetString().ShouldBe("waiting");
        payment.GetProperty("pack_id").GetString().ShouldBe("premium");
        payment.GetProperty("price_usd").GetString().ShouldBe("25.00");
        payment.GetProperty("credits_micro").GetInt64().ShouldBe(27_500_000);
        payment.GetProperty("invoice_url").GetString()!.ShouldStartWith(app.NowPayments.Url.ToString());
        var orderId = payment.GetProperty("order_id").GetString()!;
        var sent = app.NowPayments.Requests.Single(r => r.Body.Contains(orderId, StringComparison.Ordinal));
        sent.ApiKey.ShouldBe(PaymentsApp.ApiKey);
        sent.Body.ShouldContain("/api/crypto/webhook");

        var ipn = PaymentsTestKit.Ipn(orderId, "finished", 31_001);
        using var webhook = app.CreateClient();
        (await webhook.PostIpnAsync(ipn, PaymentsTestKit.Sign(ipn))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await app.EventsAppliedAsync(Guid.Parse(payment.GetProperty("payment_id").GetString()!));

        (await app.AvailableAsync(account)).ShouldBe(27_500_000);
        var view = await client.GetFromJsonAsync<JsonElement>($"/api/v1/payments/{payment.GetProperty("payment_id").GetString()}");
        view.GetProperty("status").GetString().ShouldBe("finished");
        view.GetProperty("message").GetString().ShouldBe("Credits added to your account!");
    }

    [Fact]
    public async Task Checkout_Developer_TopsUpTheCallersOwnAccount()
    {
        using var client = await SignedInAsync(TestWallet.Demo);

        var response = await client.PostAsJsonAsync("/api/v1/payments", new { pack_id = "starter", developer = true });
        var payment = await response.Content.ReadFromJsonAsync<JsonElement>();
        var ipn = PaymentsTestKit.Ipn(payment.GetProperty("order_id").GetString()!, "finished", 31_002);
        using var webhook = app.CreateClient();
        (await webhook.PostIpnAsync(ipn, PaymentsTestKit.Sign(ipn))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await app.EventsAppliedAsync(Guid.Parse(payment.GetProperty("payment_id").GetString()!));

        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        payment.GetProperty("developer").GetBoolean().ShouldBeTrue();
        (await app.Database.ScalarAsync<long>(
            "SELECT sum(l.available) FROM credit_lots l JOIN credit_accounts a ON a.id = l.account_id WHERE a.kind = 'developer' AND l.source_ref = @r",
            ("r", "nowpayments:" + Guid.Parse(payment.GetProperty("payment_id").GetString()!).ToString("N")))).ShouldBe(5_000_000);
    }

    [Theory]
    [InlineData("""{"pack_id":"platinum","community":"x"}""", "pack_id")]
    [InlineData("""{"pack_id":"starter"}""", "community")]
    [InlineData("""{"pack_id":"starter","community":"x","developer":true}""", "community")]
    public async Task Checkout_BadRequest_Is400NamingTheField(string body, string field)
    {
        using var client = await SignedInAsync(TestWallet.Demo);
        var before = app.NowPayments.Requests.Count;

        var response = await client.PostAsync("/api/v1/payments", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        problem.GetProperty("errors").EnumerateObject().Select(e => e.Name).ShouldContain(n => n.Contains(field, StringComparison.OrdinalIgnoreCase));
        app.NowPayments.Requests.Count.ShouldBe(before);
    }

    [Fact]
    public async Task Checkout_WithoutSession_Is401()
    {
        using var client = app.CreateClient();

        var response = await client.PostAsJsonAsync("/api/v1/payments", new { pack_id = "starter", developer = true });

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Checkout_UnknownCommunity_Is404()
    {
        using var client = await SignedInAsync(TestWallet.Demo);

        var response = await client.PostAsJsonAsync("/api/v1/payments", new { pack_id = "starter", community = "no-such-community" });

        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Checkout_ProviderRefuses_Is502AndNothingStored()
    {
        var (slug, _) = await app.FundedCommunityAsync(0);
        using var client = await SignedInAsync(TestWallet.Demo);
        var payments = await app.Database.ScalarAsync<long>("SELECT count(*) FROM payments");
        app.NowPayments.Script.Enqueue(NowPaymentsFake.Status(400, """{"message":"bad"}"""));

        var response = await client.PostAsJsonAsync("/api/v1/payments", new { pack_id = "starter", community = slug });
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();

        response.StatusCode.ShouldBe(HttpStatusCode.BadGateway);
        problem.GetProperty("type").GetString()!.ShouldEndWith("/payment-provider-failed");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM payments")).ShouldBe(payments);
    }

    [Fact]
    public async Task GetPayment_SomeoneElse_Is404_PlatformAdminSeesIt()
    {
        var (slug, _) = await app.FundedCommunityAsync(0);
        using var payer = await SignedInAsync(TestWallet.Third);
        var created = await (await payer.PostAsJsonAsync("/api/v1/payments", new { pack_id = "starter", community = slug })).Content.ReadFromJsonAsync<JsonElement>();
        var url = $"/api/v1/payments/{created.GetProperty("payment_id").GetString()}";
        using var stranger = await SignedInAsync(TestWallet.Deployer);
        using var admin = app.CreateAdminClient();

        (await stranger.GetAsync(url)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        var seen = await admin.GetFromJsonAsync<JsonElement>(url);
        seen.GetProperty("message").GetString().ShouldBe("Payment pending — waiting for confirmation");
    }
}

public sealed class PaymentsDisabledTests(PaymentsDisabledApp app) : IClassFixture<PaymentsDisabledApp>
{
    [Fact]
    public async Task Checkout_Disabled_Is503_ButIpnsStillLand()
    {
        var (slug, _) = await app.FundedCommunityAsync(0);
        using var client = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo));
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        var ipn = PaymentsTestKit.Ipn(orderId, "finished", 41_001);

        var checkout = await client.PostAsJsonAsync("/api/v1/payments", new { pack_id = "starter", community = slug });
        var problem = await checkout.Content.ReadFromJsonAsync<JsonElement>();
        using var webhook = app.CreateClient();
        var landed = await webhook.PostIpnAsync(ipn, PaymentsTestKit.Sign(ipn));

        checkout.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        problem.GetProperty("type").GetString()!.ShouldEndWith("/payments-disabled");
        app.NowPayments.Requests.ShouldBeEmpty();
        landed.StatusCode.ShouldBe(HttpStatusCode.OK);
        await app.EventsAppliedAsync(paymentId);
        (await app.LotCountAsync(paymentId)).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
    }
}
