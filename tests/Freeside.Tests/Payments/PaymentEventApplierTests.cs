using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Ledger;
using Freeside.Tests.Infrastructure;
using Freeside.Tests.Ledger;
using MediatR;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Npgsql;

namespace Freeside.Tests.Payments;

/// <summary>
/// The webhook stores and answers; the applier applies. An answer never waits for the payment's row
/// lock, and an IPN stored but not yet applied survives the host stopping.
/// </summary>
public sealed class PaymentEventApplierTests(PaymentsApp app) : IClassFixture<PaymentsApp>
{
    [Fact]
    public async Task ReceiveIpn_PaymentRowLockedByAnotherTransaction_Answers200AtOnce_AppliedAfterRelease()
    {
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        using var client = app.CreateClient();
        var body = PaymentsTestKit.Ipn(orderId, "finished", 81_001);
        await using var holder = new NpgsqlConnection(app.Database.OwnerConnectionString);
        await holder.OpenAsync();
        await using var transaction = await holder.BeginTransactionAsync();
        // The strongest row lock: stronger than the one an applier or a reconciliation holds while it changes the payment.
        await using (var lockIt = new NpgsqlCommand("SELECT id FROM payments WHERE id = @p FOR UPDATE", holder, transaction))
        {
            lockIt.Parameters.AddWithValue("p", paymentId);
            await lockIt.ExecuteScalarAsync();
        }

        using var answerBy = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var clock = Stopwatch.StartNew();
        using var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body)).WaitAsync(answerBy.Token);
        var answered = clock.Elapsed;
        using var replay = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body)).WaitAsync(answerBy.Token);
        // Long enough for the applier to have been woken and to have found the payment busy.
        await Task.Delay(500);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("result").GetString().ShouldBe("stored");
        (await replay.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("result").GetString().ShouldBe("duplicate");
        answered.ShouldBeLessThan(TimeSpan.FromSeconds(5));
        (await app.EventOutcomeAsync(paymentId, "finished")).ShouldBeNull();
        (await app.LotCountAsync(paymentId)).ShouldBe(0);

        await transaction.RollbackAsync();
        await app.EventsAppliedAsync(paymentId);

        (await app.EventOutcomeAsync(paymentId, "finished")).ShouldBe("applied");
        (await app.StatusAsync(paymentId)).ShouldBe("finished");
        (await app.LotCountAsync(paymentId)).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Applier_ApplyingFails_EventStaysPendingCountedAndIsAppliedOnceItCan()
    {
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        // A fault in the database for this payment only: every attempt to change it rolls back.
        await app.Database.ExecuteAsync($$"""
            CREATE FUNCTION test_refuse_payment() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$;
            CREATE TRIGGER test_refuse_payment BEFORE UPDATE ON payments FOR EACH ROW WHEN (OLD.id = '{{paymentId}}') EXECUTE FUNCTION test_refuse_payment();
            """);
        var failuresBefore = LedgerTestKit.Counter(app.ScrapeMetrics(), "payments_ipn_apply_failures_total");
        using var client = app.CreateClient();
        var body = PaymentsTestKit.Ipn(orderId, "finished", 81_003);
        try
        {
            (await client.PostIpnAsync(body, PaymentsTestKit.Sign(body))).StatusCode.ShouldBe(HttpStatusCode.OK);
            var waited = Stopwatch.StartNew();
            while (LedgerTestKit.Counter(app.ScrapeMetrics(), "payments_ipn_apply_failures_total") == failuresBefore && waited.Elapsed < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(50);
            }

            LedgerTestKit.Counter(app.ScrapeMetrics(), "payments_ipn_apply_failures_total").ShouldBeGreaterThan(failuresBefore);
            (await app.EventOutcomeAsync(paymentId, "finished")).ShouldBeNull();
            (await app.LotCountAsync(paymentId)).ShouldBe(0);
            (await app.AvailableAsync(account)).ShouldBe(0);
        }
        finally
        {
            await app.Database.ExecuteAsync("DROP TRIGGER test_refuse_payment ON payments; DROP FUNCTION test_refuse_payment();");
        }

        await app.EventsAppliedAsync(paymentId, TimeSpan.FromSeconds(20));

        (await app.EventOutcomeAsync(paymentId, "finished")).ShouldBe("applied");
        (await app.LotCountAsync(paymentId)).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task ReceiveIpn_UnknownStatus_StoredSettledAsIgnored()
    {
        var (orderId, paymentId, _, _) = await app.WaitingPaymentAsync();
        using var client = app.CreateClient();
        var body = PaymentsTestKit.Ipn(orderId, "wrong_asset_confirmed", 81_002);

        using var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("result").GetString().ShouldBe("ignored");
        (await app.EventOutcomeAsync(paymentId, "wrong_asset_confirmed")).ShouldBe("ignored");
        (await app.StatusAsync(paymentId)).ShouldBe("waiting");
    }
}

/// <summary>A payments host whose settings a second host on the same database can reuse.</summary>
public sealed class SharedDatabasePaymentsApp : PaymentsApp
{
    private IDictionary<string, string?>? _settings;

    protected override IDictionary<string, string?> Settings(TestDatabase database) => _settings = base.Settings(database);

    /// <summary>Another host (a restarted process, or a second replica) on this app's database.</summary>
    public WebApplicationFactory<Program> AnotherHost()
    {
        var settings = _settings ?? throw new InvalidOperationException("The first host has not started.");
        var host = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Development");
            foreach (var (key, value) in settings)
            {
                builder.UseSetting(key, value ?? "");
            }

            builder.ConfigureTestServices(services =>
                services.TryAddEnumerable(ServiceDescriptor.Transient<INotificationHandler<Freeside.Features.Payments.PaymentCredited>, CreditedRecorder>()));
        });
        host.StartServer();
        return host;
    }
}

public sealed class PaymentEventRestartTests(SharedDatabasePaymentsApp app) : IClassFixture<SharedDatabasePaymentsApp>
{
    [Fact]
    public async Task Applier_TwoReplicasTakingDuplicatesAtOnce_MintOnce()
    {
        await using var second = app.AnotherHost();
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        var bodies = new[] { "confirming", "confirmed", "finished" }.SelectMany(status => Enumerable.Repeat(PaymentsTestKit.Ipn(orderId, status, 82_001), 10)).ToList();
        using var start = new ManualResetEventSlim();

        var answers = await Task.WhenAll(bodies.Select((body, n) => Task.Run(async () =>
        {
            using var client = n % 2 == 0 ? app.CreateClient() : second.CreateClient();
            start.Wait();
            using var response = await client.PostIpnAsync(body, PaymentsTestKit.Sign(body));
            return response.StatusCode;
        })).Append(Task.Run(() =>
        {
            start.Set();
            return HttpStatusCode.OK;
        })));
        await app.EventsAppliedAsync(paymentId);

        answers.ShouldAllBe(s => s == HttpStatusCode.OK);
        (await app.StatusAsync(paymentId)).ShouldBe("finished");
        (await app.LotCountAsync(paymentId)).ShouldBe(1);
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
        (await PaymentsApp.CreditedRecorder.SettledForAsync(paymentId)).ShouldBe(1);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Applier_HostStoppedBeforeApplying_NextHostAppliesThemOnce()
    {
        // The first host stores the IPNs and answers, but cannot apply them (the payment is held) before it stops.
        var first = app.AnotherHost();
        var (orderId, paymentId, account, _) = await app.WaitingPaymentAsync();
        await using var holder = new NpgsqlConnection(app.Database.OwnerConnectionString);
        await holder.OpenAsync();
        var transaction = await holder.BeginTransactionAsync();
        await using (var lockIt = new NpgsqlCommand("SELECT id FROM payments WHERE id = @p FOR NO KEY UPDATE", holder, transaction))
        {
            lockIt.Parameters.AddWithValue("p", paymentId);
            await lockIt.ExecuteScalarAsync();
        }

        // app's own applier must not step in: it is stopped for this test, as if the only replica were the first host.
        await app.Factory.Services.GetRequiredService<Freeside.Features.Payments.PaymentEventApplier>().StopAsync(CancellationToken.None);
        try
        {
            using (var client = first.CreateClient())
            {
                foreach (var status in new[] { "waiting", "confirming", "finished", "finished", "confirmed" })
                {
                    var body = PaymentsTestKit.Ipn(orderId, status, 83_001);
                    (await client.PostIpnAsync(body, PaymentsTestKit.Sign(body))).StatusCode.ShouldBe(HttpStatusCode.OK);
                }
            }

            await first.DisposeAsync();
            await transaction.RollbackAsync();
            await transaction.DisposeAsync();

            (await app.Database.ScalarAsync<long>("SELECT count(*) FROM webhook_events WHERE payment_id = @p AND applied_at IS NULL", ("p", paymentId))).ShouldBe(4);
            (await app.StatusAsync(paymentId)).ShouldBe("waiting");
            (await app.LotCountAsync(paymentId)).ShouldBe(0);

            await using var restarted = app.AnotherHost();
            await PaymentsTestKit.EventsAppliedAsync(app.Database, paymentId);

            (await app.StatusAsync(paymentId)).ShouldBe("finished");
            (await app.LotCountAsync(paymentId)).ShouldBe(1);
            (await app.AvailableAsync(account)).ShouldBe(10_500_000);
            (await PaymentsApp.CreditedRecorder.SettledForAsync(paymentId)).ShouldBe(1);
            (await app.Database.ScalarAsync<long>("SELECT count(*) FROM webhook_events WHERE payment_id = @p AND outcome = 'applied'", ("p", paymentId))).ShouldBe(2);
            await using var scope = restarted.Services.CreateAsyncScope();
            var audit = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new AuditConservation.Command(null));
            audit.Value.Status.ShouldBe("ok");
        }
        finally
        {
            await app.Factory.Services.GetRequiredService<Freeside.Features.Payments.PaymentEventApplier>().StartAsync(CancellationToken.None);
        }
    }
}
