using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Freeside.Features.Payments;
using Freeside.Tests.Infrastructure;
using Freeside.Tests.Ledger;
using Freeside.Tests.Payments.NowPayments;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Freeside.Tests.Payments;

/// <summary>The host with an IPN secret (and whatever else a payments test class sets).</summary>
public class PaymentsApp : FreesideApp
{
    public const string IpnSecret = "test-ipn-secret-0123456789abcdef";

    public const string ApiKey = "test-api-key";

    /// <summary>The NOWPayments stand-in this host's client talks to (a real loopback server).</summary>
    public NowPaymentsFake NowPayments { get; } = new();

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        NowPayments.StartAsync().GetAwaiter().GetResult();
        var settings = base.Settings(database);
        settings["NOWPAYMENTS_IPN_SECRET"] = IpnSecret;
        settings["NOWPAYMENTS_API_KEY"] = ApiKey;
        settings["NOWPAYMENTS_API_URL"] = NowPayments.Url.ToString();
        settings["NOWPAYMENTS_EMAIL"] = NowPaymentsFake.AccountEmail;
        settings["NOWPAYMENTS_PASSWORD"] = NowPaymentsFake.AccountPassword;
        return settings;
    }

    // Registered through a factory so the host disposes the fake with itself.
    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton(_ => NowPayments);
        services.TryAddEnumerable(ServiceDescriptor.Transient<INotificationHandler<PaymentCredited>, CreditedRecorder>());
    }

    /// <summary>Every "credits arrived" announcement, by payment (static: handlers are found by type; payments are unique per test).</summary>
    public sealed class CreditedRecorder : INotificationHandler<PaymentCredited>
    {
        public static ConcurrentQueue<PaymentCredited> Published { get; } = new();

        public static int For(Guid paymentId) => Published.Count(p => p.PaymentId == paymentId);

        /// <summary>
        /// How many times the payment was announced credited, once the announcement (published after the applying
        /// transaction commits, so a moment after the credits are visible) has arrived and a second one has had time to.
        /// </summary>
        public static async Task<int> SettledForAsync(Guid paymentId)
        {
            for (var i = 0; i < 250 && For(paymentId) == 0; i++)
            {
                await Task.Delay(20);
            }

            await Task.Delay(200);
            return For(paymentId);
        }

        public Task Handle(PaymentCredited notification, CancellationToken cancellationToken)
        {
            Published.Enqueue(notification);
            return Task.CompletedTask;
        }
    }
}

/// <summary>Checkout switched off: IPNs must still land.</summary>
public sealed class PaymentsDisabledApp : PaymentsApp
{
    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["FEATURE_CRYPTO_PAYMENTS_ENABLED"] = "false";
        return settings;
    }
}

internal static class PaymentsTestKit
{
    public static string Sign(string body, string secret = PaymentsApp.IpnSecret) =>
        Convert.ToHexStringLower(HMACSHA512.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(body)));

    public static string Ipn(string orderId, string status, long providerPaymentId, string actuallyPaid = "0.00021") =>
        $$"""{"payment_id":{{providerPaymentId}},"invoice_id":null,"payment_status":"{{status}}","order_id":"{{orderId}}","pay_currency":"btc","actually_paid":{{actuallyPaid}},"price_amount":10,"price_currency":"usd"}""";

    public static async Task<HttpResponseMessage> PostIpnAsync(this HttpClient client, string body, string? signature, string header = IpnVerifier.HeaderName)
    {
        using var content = new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/crypto/webhook") { Content = content };
        if (signature is not null)
        {
            request.Headers.TryAddWithoutValidation(header, signature);
        }

        return await client.SendAsync(request);
    }

    /// <summary>
    /// A waiting payment of a fresh community, written as the checkout writes it (the webhook is under
    /// test here, not the checkout).
    /// </summary>
    public static async Task<(string OrderId, Guid PaymentId, Guid AccountId, string Slug)> WaitingPaymentAsync(this FreesideApp app, long creditsMicro = 10_500_000)
    {
        var (slug, account) = await app.FundedCommunityAsync(0);
        var community = await app.Database.ScalarAsync<Guid>("SELECT id FROM communities WHERE slug = @s", ("s", slug));
        var id = Guid.NewGuid();
        var orderId = "fs-" + id.ToString("N");
        await app.Database.ExecuteAsync($"""
            INSERT INTO payments (id, order_id, account_id, community_id, payer, pack_id, price_micro, credits_micro, status, created_at, updated_at)
            VALUES ('{id}', '{orderId}', '{account}', '{community}', '0x{new string('a', 40)}', 'standard', 10000000, {creditsMicro}, 'waiting', now(), now())
            """);
        return (orderId, id, account, slug);
    }

    /// <summary>
    /// Waits until the applier has applied every stored IPN of the payment (the webhook answers once the
    /// IPN is stored; its effect lands moments later); fails the test after <paramref name="timeout"/>.
    /// Returns how long it waited.
    /// </summary>
    public static async Task<TimeSpan> EventsAppliedAsync(this FreesideApp app, Guid paymentId, TimeSpan? timeout = null) =>
        await EventsAppliedAsync(app.Database, paymentId, timeout);

    public static async Task<TimeSpan> EventsAppliedAsync(TestDatabase database, Guid paymentId, TimeSpan? timeout = null)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(15);
        while (true)
        {
            var pending = await database.ScalarAsync<long>("SELECT count(*) FROM webhook_events WHERE payment_id = @p AND applied_at IS NULL", ("p", paymentId));
            if (pending == 0)
            {
                return waited.Elapsed;
            }

            waited.Elapsed.ShouldBeLessThan(limit, $"payment {paymentId} still has {pending} stored IPNs not applied");
            await Task.Delay(20);
        }
    }

    /// <summary>What the applier did with the payment's stored IPN of this status (applied, ignored; null while pending).</summary>
    public static Task<string?> EventOutcomeAsync(this FreesideApp app, Guid paymentId, string status) =>
        app.Database.ScalarAsync<string>("SELECT outcome FROM webhook_events WHERE payment_id = @p AND status = @s", ("p", paymentId), ("s", status));

    public static Task<long> LotCountAsync(this FreesideApp app, Guid paymentId) =>
        app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_lots WHERE source = 'purchase' AND source_ref = @r", ("r", ReceiveIpn.LotSourceRef(paymentId)));

    public static async Task<string> StatusAsync(this FreesideApp app, Guid paymentId) =>
        (await app.Database.ScalarAsync<string>("SELECT status FROM payments WHERE id = @id", ("id", paymentId)))!;
}
