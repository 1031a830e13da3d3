using Freeside.Features.Payments;
using Freeside.Features.Payments.NowPayments;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Freeside.Tests.Payments.NowPayments;

/// <summary>The client against a real HTTP server on loopback: what each kind of provider failure becomes.</summary>
public sealed class NowPaymentsClientTests : IAsyncLifetime
{
    private readonly NowPaymentsFake _fake = new();
    private ServiceProvider _services = null!;
    private NowPaymentsClient _client = null!;

    public async Task InitializeAsync()
    {
        await _fake.StartAsync();
        _services = new ServiceCollection().AddHttpClient().BuildServiceProvider();
        var settings = new PaymentsSettings(true, null, "key-123", [new CreditPack("starter", 5_000_000, 5_000_000)])
        {
            ApiUrl = _fake.Url,
            AttemptTimeout = TimeSpan.FromMilliseconds(300),
            CallBudget = TimeSpan.FromSeconds(5),
        };
        _client = new NowPaymentsClient(_services.GetRequiredService<IHttpClientFactory>(), settings, NullLogger<NowPaymentsClient>.Instance);
    }

    public async Task DisposeAsync()
    {
        await _fake.DisposeAsync();
        await _services.DisposeAsync();
    }

    private Task<Freeside.Features.Common.Errors.Result<NowPaymentsInvoice>> InvoiceAsync() =>
        _client.CreateInvoiceAsync("fs-1", 10_000_000, "pack", new Uri("http://127.0.0.1/api/crypto/webhook"), null, CancellationToken.None);

    [Fact]
    public async Task CreateInvoice_Ok_SendsKeyOrderAndCallback()
    {
        var invoice = await InvoiceAsync();

        invoice.IsSuccess.ShouldBeTrue(invoice.Error?.Detail);
        invoice.Value.InvoiceUrl.ShouldStartWith(_fake.Url.ToString());
        var request = _fake.Requests.ShouldHaveSingleItem();
        request.Path.ShouldBe("/v1/invoice");
        request.ApiKey.ShouldBe("key-123");
        request.Body.ShouldContain("\"order_id\":\"fs-1\"");
        request.Body.ShouldContain("\"price_amount\":10");
        request.Body.ShouldContain("\"ipn_callback_url\":\"http://127.0.0.1/api/crypto/webhook\"");
    }

    [Fact]
    public async Task CreateInvoice_TwoServerErrorsThenOk_RetriesAndSucceeds()
    {
        _fake.Script.Enqueue(NowPaymentsFake.Status(503));
        _fake.Script.Enqueue(NowPaymentsFake.Status(500));

        var invoice = await InvoiceAsync();

        invoice.IsSuccess.ShouldBeTrue(invoice.Error?.Detail);
        _fake.Requests.Count.ShouldBe(3);
    }

    [Fact]
    public async Task CreateInvoice_AlwaysServerError_IsFailedValueAfterRetries()
    {
        _fake.Always = NowPaymentsFake.Status(502);
        // Each 502 comes at once; a roomy attempt timeout keeps a slow, loaded machine from turning the last one into a
        // timeout, which is a different failure with a different message.
        var client = new NowPaymentsClient(_services.GetRequiredService<IHttpClientFactory>(),
            new PaymentsSettings(true, null, "key-123", [new CreditPack("starter", 5_000_000, 5_000_000)])
            {
                ApiUrl = _fake.Url, AttemptTimeout = TimeSpan.FromSeconds(5), CallBudget = TimeSpan.FromSeconds(60),
            },
            NullLogger<NowPaymentsClient>.Instance);

        var invoice = await client.CreateInvoiceAsync("fs-1", 10_000_000, "pack", new Uri("http://127.0.0.1/api/crypto/webhook"), null, CancellationToken.None);

        invoice.Error.ShouldBeOfType<NowPaymentsFailed>().Detail.ShouldContain("kept failing (502)");
        _fake.Requests.Count.ShouldBeGreaterThan(1);
    }

    [Fact]
    public async Task CreateInvoice_NoAnswer_IsTimeoutFailure()
    {
        _fake.Always = NowPaymentsFake.Silence;

        var invoice = await InvoiceAsync();

        invoice.Error.ShouldBeOfType<NowPaymentsFailed>().Detail.ShouldContain("in time");
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("[1,2]")]
    [InlineData("{\"id\":\"1\"}")]
    public async Task CreateInvoice_MalformedAnswer_IsFailureWithoutRetry(string body)
    {
        _fake.Script.Enqueue(NowPaymentsFake.Status(200, body));

        var invoice = await InvoiceAsync();

        invoice.Error.ShouldBeOfType<NowPaymentsFailed>();
        _fake.Requests.Count.ShouldBe(1);
    }

    [Fact]
    public async Task CreateInvoice_TooManyRequests_IsFailureWithoutRetry()
    {
        _fake.Script.Enqueue(NowPaymentsFake.Status(429, "{\"message\":\"slow down\"}"));

        var invoice = await InvoiceAsync();

        invoice.Error.ShouldBeOfType<NowPaymentsFailed>().Detail.ShouldContain("429");
        _fake.Requests.Count.ShouldBe(1);
    }

    [Fact]
    public async Task CreateInvoice_ProviderKeepsFailing_BreakerStopsCalling()
    {
        _fake.Always = NowPaymentsFake.Status(500);
        for (var i = 0; i < 2; i++)
        {
            (await InvoiceAsync()).IsSuccess.ShouldBeFalse();
        }

        var seen = _fake.Requests.Count;
        var paused = await InvoiceAsync();

        paused.Error.ShouldBeOfType<NowPaymentsFailed>().Detail.ShouldContain("paused");
        _fake.Requests.Count.ShouldBe(seen);
    }

    [Fact]
    public async Task GetPayment_KnownPayment_ReadsStatusAndLiterals()
    {
        _fake.Payments["777"] = new Dictionary<string, object> { ["payment_id"] = 777, ["payment_status"] = "finished", ["order_id"] = "fs-1", ["actually_paid"] = 0.00021m };

        var payment = await _client.GetPaymentAsync("777", CancellationToken.None);

        payment.IsSuccess.ShouldBeTrue(payment.Error?.Detail);
        payment.Value.ShouldBe(new NowPaymentsPayment("777", "finished", "fs-1", null, null, "0.00021"));
    }

    [Fact]
    public async Task FindPaymentByInvoice_SignsInRenewsOn401_NeverLogsThePasswordOrToken()
    {
        var capture = new Freeside.Tests.Infrastructure.CapturingLoggerProvider();
        await using var services = new ServiceCollection()
            .AddLogging(logging => logging.AddProvider(capture).SetMinimumLevel(LogLevel.Trace))
            .AddHttpClient().BuildServiceProvider();
        var settings = new PaymentsSettings(true, null, "key-123", [new CreditPack("starter", 5_000_000, 5_000_000)])
        {
            ApiUrl = _fake.Url, AttemptTimeout = TimeSpan.FromMilliseconds(300), CallBudget = TimeSpan.FromSeconds(5),
            AccountEmail = NowPaymentsFake.AccountEmail, AccountPassword = NowPaymentsFake.AccountPassword,
        };
        var client = new NowPaymentsClient(services.GetRequiredService<IHttpClientFactory>(), settings,
            services.GetRequiredService<ILogger<NowPaymentsClient>>());
        _fake.InvoicePayments["inv-9"] = new Dictionary<string, object> { ["payment_id"] = 909, ["payment_status"] = "confirming", ["invoice_id"] = "inv-9" };

        var first = await client.FindPaymentByInvoiceAsync("inv-9", CancellationToken.None);
        var issued = _fake.Tokens.Keys.ToList();
        _fake.Tokens.Clear();
        var renewed = await client.FindPaymentByInvoiceAsync("inv-9", CancellationToken.None);
        var wrong = new NowPaymentsClient(services.GetRequiredService<IHttpClientFactory>(), settings with { AccountPassword = "not-the-password-4242" },
            services.GetRequiredService<ILogger<NowPaymentsClient>>());
        var refused = await wrong.FindPaymentByInvoiceAsync("inv-9", CancellationToken.None);

        first.Value!.Status.ShouldBe("confirming");
        renewed.Value!.PaymentId.ShouldBe("909");
        _fake.Requests.Count(r => r.Path == "/v1/auth").ShouldBe(3);
        _fake.ListAuthorizations.ShouldAllBe(a => a.StartsWith("Bearer ", StringComparison.Ordinal));
        refused.Error.ShouldBeOfType<NowPaymentsFailed>();
        capture.Entries.ShouldNotBeEmpty();
        capture.AllText.ShouldNotContain(NowPaymentsFake.AccountPassword);
        capture.AllText.ShouldNotContain("not-the-password-4242");
        issued.Concat(_fake.Tokens.Keys).ShouldAllBe(token => !capture.AllText.Contains(token, StringComparison.Ordinal));
        refused.Error!.Detail.ShouldNotContain("not-the-password-4242");
    }
}
