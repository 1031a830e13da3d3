using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Payments;
using Freeside.Features.Payments.NowPayments;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;
using Freeside.Tests.Ledger;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Payments;

/// <summary>NOWPAYMENTS_ENVIRONMENT=simulator; the host's HTTP clients reach its own (in-memory) server.</summary>
public sealed class SimulatorApp : FreesideApp
{
    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["NOWPAYMENTS_ENVIRONMENT"] = "simulator";
        settings["NOWPAYMENTS_IPN_SECRET"] = PaymentsApp.IpnSecret;
        settings["NOWPAYMENTS_API_KEY"] = PaymentsApp.ApiKey;
        return settings;
    }

    protected override void ConfigureServices(IServiceCollection services)
    {
        foreach (var name in new[] { NowPaymentsClient.HttpClientName, NowPaymentsSimulator.HttpClientName })
        {
            services.AddHttpClient(name).ConfigurePrimaryHttpMessageHandler(() => Factory.Server.CreateHandler());
        }
    }
}

public sealed class SimulatorTests(SimulatorApp app) : IClassFixture<SimulatorApp>
{
    [Fact]
    public async Task Simulator_PayTwiceOutOfOrder_CreditsOnce_ThroughTheRealWebhook()
    {
        var (slug, account) = await app.FundedCommunityAsync(0);
        using var client = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo));
        var created = await (await client.PostAsJsonAsync("/api/v1/payments", new { pack_id = "standard", community = slug })).Content.ReadFromJsonAsync<JsonElement>();
        var invoiceUrl = new Uri(created.GetProperty("invoice_url").GetString()!);

        var page = await client.GetStringAsync(invoiceUrl.PathAndQuery);
        var paid = await client.PostAsync(invoiceUrl.PathAndQuery, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["action"] = "pay", ["twice"] = "true", ["shuffle"] = "true",
        }));
        var delivered = await paid.Content.ReadAsStringAsync();
        await PaymentsTestKit.EventsAppliedAsync(app, Guid.Parse(created.GetProperty("payment_id").GetString()!));
        var status = await client.GetFromJsonAsync<JsonElement>($"/api/v1/payments/{created.GetProperty("payment_id").GetString()}");

        page.ShouldContain("Pay in full");
        page.ShouldContain("Refund");
        paid.StatusCode.ShouldBe(HttpStatusCode.OK);
        System.Text.RegularExpressions.Regex.Matches(delivered, "→ 200").Count.ShouldBe(10);
        status.GetProperty("status").GetString().ShouldBe("finished");
        (await app.AvailableAsync(account)).ShouldBe(10_500_000);
        await app.ShouldAuditCleanAsync();
    }

    [Fact]
    public async Task Simulator_Partial_LeavesPaymentUnderpaid()
    {
        var (slug, account) = await app.FundedCommunityAsync(0);
        using var client = app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo));
        var created = await (await client.PostAsJsonAsync("/api/v1/payments", new { pack_id = "starter", community = slug })).Content.ReadFromJsonAsync<JsonElement>();
        var invoiceUrl = new Uri(created.GetProperty("invoice_url").GetString()!);

        await client.PostAsync(invoiceUrl.PathAndQuery, new FormUrlEncodedContent(new Dictionary<string, string> { ["action"] = "partial" }));
        await PaymentsTestKit.EventsAppliedAsync(app, Guid.Parse(created.GetProperty("payment_id").GetString()!));
        var status = await client.GetFromJsonAsync<JsonElement>($"/api/v1/payments/{created.GetProperty("payment_id").GetString()}");

        status.GetProperty("status").GetString().ShouldBe("partially_paid");
        status.GetProperty("message").GetString().ShouldBe("Underpaid — send remaining or contact support");
        (await app.AvailableAsync(account)).ShouldBe(0);
    }

    [Fact]
    public void Settings_SimulatorOutsideDevelopment_Refused()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["NOWPAYMENTS_ENVIRONMENT"] = "simulator", ["NOWPAYMENTS_IPN_SECRET"] = PaymentsApp.IpnSecret, ["NOWPAYMENTS_API_KEY"] = "k",
        }).Build();
        var errors = new List<string>();

        PaymentsSettings.Load(configuration, isDevelopment: false, errors);

        errors.ShouldHaveSingleItem().ShouldStartWith("NOWPAYMENTS_ENVIRONMENT:");
    }
}

public sealed class SimulatorOffTests(PaymentsApp app) : IClassFixture<PaymentsApp>
{
    [Fact]
    public async Task Simulator_NotConfigured_Is404()
    {
        using var client = app.CreateClient();

        (await client.GetAsync("/simulator/nowpayments/invoice/1")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
