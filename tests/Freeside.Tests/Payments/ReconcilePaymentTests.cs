using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Payments;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;
using Freeside.Tests.Ledger;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Freeside.Tests.Payments;

public sealed class ReconcilePaymentTests(PaymentsApp app) : IClassFixture<PaymentsApp>
{
    /// <summary>A real checkout (invoice at the fake), then backdated past the 15-minute threshold.</summary>
    private async Task<(Guid PaymentId, string OrderId, string InvoiceId, Guid Account)> CheckedOutAsync(TimeSpan age)
    {
        var (slug, account) = await app.FundedCommunityAsync(0);
        using var client = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo));
        var created = await (await client.PostAsJsonAsync("/api/v1/payments", new { pack_id = "standard", community = slug })).Content.ReadFromJsonAsync<JsonElement>();
        var id = Guid.Parse(created.GetProperty("payment_id").GetString()!);
        await app.Database.ExecuteAsync($"UPDATE payments SET created_at = now() - interval '{(int)age.TotalMinutes} minutes' WHERE id = '{id}'");
        return (id, created.GetProperty("order_id").GetString()!, created.GetProperty("invoice_id").GetString()!, account);
    }

    private async Task RunJobAsync()
    {
        await using var scope = app.Services.CreateAsyncScope();
        var job = new ReconcilePaymentsJob(scope.ServiceProvider.GetRequiredService<IMediator>(), NullLogger<ReconcilePaymentsJob>.Instance);
        await job.Execute(null!, CancellationToken.None);
    }

    [Fact]
    public async Task ReconcileJob_AllIpnsLost_FinishedAtProvider_MintsOnce()
    {
        var (paymentId, orderId, invoiceId, account) = await CheckedOutAsync(TimeSpan.FromMinutes(20));
        app.NowPayments.InvoicePayments[invoiceId] = new { payment_id = 61_001, payment_status = "finished", order_id = orderId, invoice_id = invoiceId, actually_paid = 0.00042m, pay_currency = "btc" };

        await RunJobAsync();
        await RunJobAsync();

        (await app.StatusAsync(paymentId)).ShouldBe("finished");
        (await app.LotCountAsync(paymentId)).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
        (await app.Database.ScalarAsync<string>("SELECT provider_payment_id FROM payments WHERE id = @id", ("id", paymentId))).ShouldBe("61001");
        PaymentsApp.CreditedRecorder.Published.Single(p => p.PaymentId == paymentId).Payer.ShouldBe(TestWallet.Demo.Address);
        app.NowPayments.ListAuthorizations.ShouldNotBeEmpty();
        app.NowPayments.ListAuthorizations.ShouldAllBe(a => a.StartsWith("Bearer ", StringComparison.Ordinal));
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task AdminReconcile_JwtExpiredAtProvider_SignsInAgainOnceAndFindsThePayment()
    {
        var (paymentId, orderId, invoiceId, account) = await CheckedOutAsync(TimeSpan.Zero);
        app.NowPayments.InvoicePayments[invoiceId] = new { payment_id = 61_010, payment_status = "finished", order_id = orderId, invoice_id = invoiceId, actually_paid = "0.1", pay_currency = "eth" };
        using var admin = app.CreateAdminClient();
        var other = await CheckedOutAsync(TimeSpan.Zero);
        (await admin.PostAsync($"/api/v1/admin/payments/{other.PaymentId}/reconcile", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var signInsBefore = app.NowPayments.Requests.Count(r => r.Path == "/v1/auth");
        app.NowPayments.Tokens.Clear();

        var response = await admin.PostAsync($"/api/v1/admin/payments/{paymentId}/reconcile", null);

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        app.NowPayments.Requests.Count(r => r.Path == "/v1/auth").ShouldBe(signInsBefore + 1);
        (await app.StatusAsync(paymentId)).ShouldBe("finished");
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
    }

    [Fact]
    public async Task AdminReconcile_TwoLookups_ReuseOneJwt()
    {
        var first = await CheckedOutAsync(TimeSpan.Zero);
        var second = await CheckedOutAsync(TimeSpan.Zero);
        using var admin = app.CreateAdminClient();
        (await admin.PostAsync($"/api/v1/admin/payments/{first.PaymentId}/reconcile", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var signIns = app.NowPayments.Requests.Count(r => r.Path == "/v1/auth");

        (await admin.PostAsync($"/api/v1/admin/payments/{second.PaymentId}/reconcile", null)).StatusCode.ShouldBe(HttpStatusCode.OK);

        app.NowPayments.Requests.Count(r => r.Path == "/v1/auth").ShouldBe(signIns);
    }

    [Fact]
    public async Task ReconcileJob_YoungPayment_IsLeftAlone()
    {
        var (paymentId, orderId, invoiceId, account) = await CheckedOutAsync(TimeSpan.FromMinutes(5));
        app.NowPayments.InvoicePayments[invoiceId] = new { payment_id = 61_002, payment_status = "finished", order_id = orderId };

        await RunJobAsync();

        (await app.StatusAsync(paymentId)).ShouldBe("waiting");
        (await app.AvailableAsync(account)).ShouldBe(0);
    }

    [Fact]
    public async Task AdminReconcile_KnownProviderPayment_AppliesStatusAndLateIpnIsIgnored()
    {
        var (paymentId, orderId, _, account) = await CheckedOutAsync(TimeSpan.Zero);
        using var webhook = app.CreateClient();
        var confirming = PaymentsTestKit.Ipn(orderId, "confirming", 61_003);
        (await webhook.PostIpnAsync(confirming, PaymentsTestKit.Sign(confirming))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await app.EventsAppliedAsync(paymentId);
        app.NowPayments.Payments["61003"] = new { payment_id = 61_003, payment_status = "finished", order_id = orderId, actually_paid = "0.1", pay_currency = "eth" };
        using var admin = app.CreateAdminClient();

        var response = await admin.PostAsync($"/api/v1/admin/payments/{paymentId}/reconcile", null);
        var view = await response.Content.ReadFromJsonAsync<JsonElement>();
        var finished = PaymentsTestKit.Ipn(orderId, "finished", 61_003);
        var late = await webhook.PostIpnAsync(finished, PaymentsTestKit.Sign(finished));
        await app.EventsAppliedAsync(paymentId);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        view.GetProperty("result").GetString().ShouldBe("applied");
        view.GetProperty("status_before").GetString().ShouldBe("confirming");
        view.GetProperty("status").GetString().ShouldBe("finished");
        (await late.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("result").GetString().ShouldBe("stored");
        (await app.EventOutcomeAsync(paymentId, "finished")).ShouldBe("ignored");
        (await app.LotCountAsync(paymentId)).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
    }

    [Fact]
    public async Task AdminReconcile_ProviderDown_Is502AndNothingChanges()
    {
        var (paymentId, _, _, _) = await CheckedOutAsync(TimeSpan.Zero);
        using var admin = app.CreateAdminClient();
        app.NowPayments.Script.Enqueue(Freeside.Tests.Payments.NowPayments.NowPaymentsFake.Status(429));

        var response = await admin.PostAsync($"/api/v1/admin/payments/{paymentId}/reconcile", null);

        response.StatusCode.ShouldBe(HttpStatusCode.BadGateway);
        (await app.StatusAsync(paymentId)).ShouldBe("waiting");
    }

    [Fact]
    public async Task AdminReconcile_WithoutAdminToken_Is401()
    {
        using var client = app.CreateClient();

        (await client.PostAsync($"/api/v1/admin/payments/{Guid.NewGuid()}/reconcile", null)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await client.GetAsync("/api/v1/admin/payments")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task AdminList_StuckAndUnmatched_PagedByCursor()
    {
        var stuck = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            stuck.Add((await CheckedOutAsync(TimeSpan.FromMinutes(40 + i))).PaymentId);
        }

        var fresh = (await CheckedOutAsync(TimeSpan.Zero)).PaymentId;
        using var webhook = app.CreateClient();
        var orphan = PaymentsTestKit.Ipn("nobody-" + Guid.NewGuid().ToString("N"), "finished", 61_100);
        await webhook.PostIpnAsync(orphan, PaymentsTestKit.Sign(orphan));
        using var admin = app.CreateAdminClient();

        var seen = new List<Guid>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await admin.GetFromJsonAsync<JsonElement>("/api/v1/admin/payments?status=stuck&limit=1" + (cursor is null ? "" : "&cursor=" + cursor));
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("payment_id").GetGuid()));
            cursor = page.GetProperty("next_cursor").ValueKind == JsonValueKind.Null ? null : page.GetProperty("next_cursor").GetString();
            pages++;
        }
        while (cursor is not null && pages < 100);
        var unmatched = await admin.GetFromJsonAsync<JsonElement>("/api/v1/admin/payments?status=unmatched");

        seen.ShouldBeSubsetOf(seen.Distinct());
        stuck.ShouldAllBe(id => seen.Contains(id));
        seen.ShouldNotContain(fresh);
        unmatched.GetProperty("items").EnumerateArray().ShouldContain(i => i.GetProperty("provider_payment_id").GetString() == "61100");
        (await admin.GetAsync("/api/v1/admin/payments?limit=101")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await admin.GetAsync("/api/v1/admin/payments?cursor=bogus")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await admin.GetAsync("/api/v1/admin/payments?status=lost")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }
}

/// <summary>NOWPayments configured without the dashboard account: only the list look-up is impossible.</summary>
public sealed class NoAccountPaymentsApp : PaymentsApp
{
    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings.Remove("NOWPAYMENTS_EMAIL");
        settings.Remove("NOWPAYMENTS_PASSWORD");
        return settings;
    }
}

public sealed class ReconcileWithoutAccountTests(NoAccountPaymentsApp app) : IClassFixture<NoAccountPaymentsApp>
{
    [Fact]
    public async Task AdminReconcile_InvoiceOnlyWithoutAccount_502NamingTheSettingsAndNothingChanges()
    {
        var (slug, _) = await app.FundedCommunityAsync(0);
        using var client = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo));
        var created = await (await client.PostAsJsonAsync("/api/v1/payments", new { pack_id = "standard", community = slug })).Content.ReadFromJsonAsync<JsonElement>();
        var paymentId = Guid.Parse(created.GetProperty("payment_id").GetString()!);
        using var admin = app.CreateAdminClient();

        var response = await admin.PostAsync($"/api/v1/admin/payments/{paymentId}/reconcile", null);

        response.StatusCode.ShouldBe(HttpStatusCode.BadGateway);
        (await response.Content.ReadAsStringAsync()).ShouldContain("NOWPAYMENTS_EMAIL");
        (await app.StatusAsync(paymentId)).ShouldBe("waiting");
        app.NowPayments.Requests.ShouldNotContain(r => r.Path == "/v1/auth" || r.Path == "/v1/payment/");
    }
}
