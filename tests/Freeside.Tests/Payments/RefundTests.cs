using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Ledger;
using Freeside.Tests.Identity;
using Freeside.Tests.Ledger;

namespace Freeside.Tests.Payments;

/// <summary>
/// A refund after finished takes the credits back — the purchase's own lot first, then the account's
/// other lots — and what was already spent becomes a debt that blocks reservations until the next
/// purchase repays it first. Each test ends with a clean full audit (C1–C6).
/// </summary>
public sealed class RefundTests(PaymentsApp app) : IClassFixture<PaymentsApp>
{
    [Fact]
    public async Task ReceiveIpn_RefundedAfterFinished_TakesBackExactlyTheCredits()
    {
        var (orderId, paymentId, account, slug) = await app.WaitingPaymentAsync();
        await app.GrantAsync(slug, 2_000_000);
        using var client = app.CreateClient();

        await DeliverAsync(client, orderId, 71_001, "finished");
        (await app.AvailableAsync(account)).ShouldBe(12_500_000);
        await DeliverAsync(client, orderId, 71_001, "refunded");

        (await app.StatusAsync(paymentId)).ShouldBe("refunded");
        (await app.AvailableAsync(account)).ShouldBe(2_000_000);
        (await PurchaseLotAsync(paymentId, "taken_back")).ShouldBe(10_500_000);
        (await DebtAsync(account)).ShouldBe(0);
        (await app.ScalarLongAsync("SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE account_id = @a AND kind = 'clawback'", account))
            .ShouldBe(10_500_000);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task ReceiveIpn_RefundedAfterPartialSpend_RecordsTheDebt_NextPurchaseRepaysItFirst()
    {
        var (orderId, paymentId, account, slug) = await app.WaitingPaymentAsync(creditsMicro: 5_000_000);
        using var client = app.CreateClient();
        await DeliverAsync(client, orderId, 71_002, "finished");
        var hold = await app.SendAsync(new ReserveCredits.Command(account, 3_000_000, "spend-" + Guid.NewGuid()));
        (await app.SendAsync(new FinalizeReservation.Command(account, hold.Value.ReservationId, 3_000_000, new Usage(), "fin-" + Guid.NewGuid())))
            .IsSuccess.ShouldBeTrue();
        var extra = await app.GrantAsync(slug, 500_000);

        await DeliverAsync(client, orderId, 71_002, "refunded");

        // 2,000,000 left on the purchase and 500,000 granted are taken; the 2,500,000 spent is owed.
        (await app.AvailableAsync(account)).ShouldBe(0);
        (await DebtAsync(account)).ShouldBe(2_500_000);
        (await app.ScalarLongAsync("SELECT taken_back FROM credit_lots WHERE id = @a", extra.LotId)).ShouldBe(500_000);
        (await app.ScalarLongAsync("SELECT debt_micro FROM credit_clawbacks WHERE account_id = @a", account)).ShouldBe(2_500_000);
        using (var admin = app.CreateAdminClient())
        {
            var balance = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/communities/{slug}/balance");
            balance.GetProperty("debt_micro").GetInt64().ShouldBe(2_500_000);
            balance.GetProperty("taken_back_micro").GetInt64().ShouldBe(2_500_000);
            balance.GetProperty("available_micro").GetInt64().ShouldBe(0);
        }

        await app.ShouldAuditCleanAsync();

        var (nextOrder, nextPayment) = await SecondPaymentAsync(account, slug, 10_500_000);
        await DeliverAsync(client, nextOrder, 71_003, "finished");

        (await DebtAsync(account)).ShouldBe(0);
        (await PurchaseLotAsync(nextPayment, "taken_back")).ShouldBe(2_500_000);
        (await PurchaseLotAsync(nextPayment, "available")).ShouldBe(8_000_000);
        (await app.AvailableAsync(account)).ShouldBe(8_000_000);
        (await app.SendAsync(new ReserveCredits.Command(account, 8_000_000, "after-" + Guid.NewGuid()))).IsSuccess.ShouldBeTrue();
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task ReserveCredits_AccountInDebt_Refused402_NothingReserved()
    {
        var (orderId, _, account, slug) = await app.WaitingPaymentAsync(creditsMicro: 5_000_000);
        using var client = app.CreateClient();
        await DeliverAsync(client, orderId, 71_004, "finished");
        var hold = await app.SendAsync(new ReserveCredits.Command(account, 5_000_000, "all-" + Guid.NewGuid()));
        (await app.SendAsync(new FinalizeReservation.Command(account, hold.Value.ReservationId, 5_000_000, new Usage(), "fin-" + Guid.NewGuid())))
            .IsSuccess.ShouldBeTrue();
        await DeliverAsync(client, orderId, 71_004, "refunded");
        await app.GrantAsync(slug, 1_000_000);
        var heldBefore = await app.PendingHeldAsync(account);

        var refused = await app.SendAsync(new ReserveCredits.Command(account, 10, "refused-" + Guid.NewGuid()));

        refused.Error.ShouldBeOfType<AccountInDebt>().DebtMicro.ShouldBe(5_000_000);
        Freeside.Features.Common.Errors.ProblemMapping.StatusFor(refused.Error!.Kind).ShouldBe(402);
        (await app.PendingHeldAsync(account)).ShouldBe(heldBefore);
        (await app.AvailableAsync(account)).ShouldBe(1_000_000);
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_reservations WHERE account_id = @a AND idempotency_key LIKE 'refused-%'", account)).ShouldBe(0);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task ReceiveIpn_TwentyConcurrentIdenticalRefunds_OneClawback()
    {
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        using var client = app.CreateClient();
        await DeliverAsync(client, orderId, 71_005, "finished");
        var body = PaymentsTestKit.Ipn(orderId, "refunded", 71_005);
        var signature = PaymentsTestKit.Sign(body);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            using var response = await client.PostIpnAsync(body, signature);
            return response.StatusCode;
        })));

        responses.ShouldAllBe(s => s == HttpStatusCode.OK);
        await app.EventsAppliedAsync(paymentId);
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_clawbacks WHERE account_id = @a", account)).ShouldBe(1);
        (await app.ScalarLongAsync("SELECT count(*) FROM ledger_entries WHERE account_id = @a AND kind = 'clawback'", account)).ShouldBe(1);
        (await PurchaseLotAsync(paymentId, "taken_back")).ShouldBe(10_500_000);
        (await app.AvailableAsync(account)).ShouldBe(0);
        (await DebtAsync(account)).ShouldBe(0);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task DeveloperBalance_RefundedAfterSpend_ShowsTheDebt_NextPurchaseRepaysIt()
    {
        using var session = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo));
        using var webhook = app.CreateClient();
        var empty = await session.GetFromJsonAsync<JsonElement>("/api/v1/developer/balance");
        empty.GetProperty("available_micro").GetInt64().ShouldBe(0);
        empty.GetProperty("debt_micro").GetInt64().ShouldBe(0);
        var bought = await (await session.PostAsJsonAsync("/api/v1/payments", new { pack_id = "starter", developer = true })).Content.ReadFromJsonAsync<JsonElement>();
        var orderId = bought.GetProperty("order_id").GetString()!;
        await DeliverAsync(webhook, orderId, 71_007, "finished");
        var account = await app.Database.ScalarAsync<Guid>("SELECT account_id FROM payments WHERE order_id = @o", ("o", orderId));
        var hold = await app.SendAsync(new ReserveCredits.Command(account, 3_000_000, "dev-" + Guid.NewGuid()));
        (await app.SendAsync(new FinalizeReservation.Command(account, hold.Value.ReservationId, 3_000_000, new Usage(), "fin-" + Guid.NewGuid())))
            .IsSuccess.ShouldBeTrue();

        await DeliverAsync(webhook, orderId, 71_007, "refunded");
        var inDebt = await session.GetFromJsonAsync<JsonElement>("/api/v1/developer/balance");

        inDebt.GetProperty("available_micro").GetInt64().ShouldBe(0);
        inDebt.GetProperty("consumed_micro").GetInt64().ShouldBe(3_000_000);
        inDebt.GetProperty("taken_back_micro").GetInt64().ShouldBe(2_000_000);
        inDebt.GetProperty("debt_micro").GetInt64().ShouldBe(3_000_000);
        using (var anonymous = app.CreateClient())
        {
            (await anonymous.GetAsync("/api/v1/developer/balance")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }

        var again = await (await session.PostAsJsonAsync("/api/v1/payments", new { pack_id = "standard", developer = true })).Content.ReadFromJsonAsync<JsonElement>();
        await DeliverAsync(webhook, again.GetProperty("order_id").GetString()!, 71_008, "finished");
        var repaid = await session.GetFromJsonAsync<JsonElement>("/api/v1/developer/balance");

        repaid.GetProperty("debt_micro").GetInt64().ShouldBe(0);
        repaid.GetProperty("available_micro").GetInt64().ShouldBe(7_500_000);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task ReceiveIpn_RefundedBeforeFinished_NeverMints()
    {
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        using var client = app.CreateClient();

        foreach (var status in new[] { "refunded", "finished" })
        {
            await DeliverAsync(client, orderId, 71_006, status);
        }

        (await app.StatusAsync(paymentId)).ShouldBe("refunded");
        (await app.LotCountAsync(paymentId)).ShouldBe(0);
        (await app.AvailableAsync(account)).ShouldBe(0);
        (await app.ScalarLongAsync("SELECT count(*) FROM credit_clawbacks WHERE account_id = @a", account)).ShouldBe(0);
    }

    /// <summary>One IPN, answered, then applied (as NOWPayments would send the next only later).</summary>
    private async Task DeliverAsync(HttpClient client, string orderId, long providerPaymentId, string status)
    {
        var body = PaymentsTestKit.Ipn(orderId, status, providerPaymentId);
        using var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        await app.EventsAppliedAsync((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("payment_id").GetGuid());
    }

    private Task<long> DebtAsync(Guid account) => app.ScalarLongAsync("SELECT debt_micro FROM credit_accounts WHERE id = @a", account);

    private Task<long> PurchaseLotAsync(Guid paymentId, string column) =>
        app.Database.ScalarAsync<long>($"SELECT {column} FROM credit_lots WHERE source = 'purchase' AND source_ref = @r",
            ("r", Freeside.Features.Payments.ReceiveIpn.LotSourceRef(paymentId)));

    /// <summary>A second waiting payment on the same community account, as the checkout writes one.</summary>
    private async Task<(string OrderId, Guid PaymentId)> SecondPaymentAsync(Guid account, string slug, long creditsMicro)
    {
        var community = await app.Database.ScalarAsync<Guid>("SELECT id FROM communities WHERE slug = @s", ("s", slug));
        var id = Guid.NewGuid();
        var orderId = "fs-" + id.ToString("N");
        await app.Database.ExecuteAsync($"""
            INSERT INTO payments (id, order_id, account_id, community_id, payer, pack_id, price_micro, credits_micro, status, created_at, updated_at)
            VALUES ('{id}', '{orderId}', '{account}', '{community}', '0x{new string('b', 40)}', 'standard', 10000000, {creditsMicro}, 'waiting', now(), now())
            """);
        return (orderId, id);
    }
}
