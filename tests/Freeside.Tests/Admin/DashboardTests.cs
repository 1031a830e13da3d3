using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Playwright;

namespace Freeside.Tests.Admin;

/// <summary>Freeside on a real Kestrel port of its own, for a browser.</summary>
public sealed class DashboardApp : FreesideApp
{
    private static readonly (int Public, int Management) Ports = FreePorts();

    public string BaseUrl { get; } = "http://127.0.0.1:" + Ports.Public;

    /// <summary>Two distinct free ports: both listeners are open at once, so the system cannot hand out the same one twice.</summary>
    private static (int, int) FreePorts()
    {
        using var first = new TcpListener(IPAddress.Loopback, 0);
        using var second = new TcpListener(IPAddress.Loopback, 0);
        first.Start();
        second.Start();
        return (((IPEndPoint)first.LocalEndpoint).Port, ((IPEndPoint)second.LocalEndpoint).Port);
    }

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["FREESIDE_URLS"] = BaseUrl;
        settings["FREESIDE_MANAGEMENT_URLS"] = "http://127.0.0.1:" + Ports.Management;
        return settings;
    }

    protected override void Configure(WebApplicationFactory<Program> factory)
    {
        factory.UseKestrel();
    }
}

/// <summary>The dashboard in Debian's headless chromium, with real data, against the API's numbers.</summary>
public sealed class DashboardTests(DashboardApp app) : IClassFixture<DashboardApp>
{
    private static string Chromium() =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("Debian's chromium is required (./build.sh test installs it).");

    /// <summary>A full sign-in over the real listener (the factory's own client does not reach it when Kestrel serves).</summary>
    private async Task<string> SessionTokenAsync(TestWallet wallet)
    {
        using var client = new HttpClient { BaseAddress = new Uri(app.BaseUrl) };
        client.DefaultRequestHeaders.Host = "localhost"; // the SIWE domain the test wallet signs for
        var message = wallet.Message(await IdentityHttp.NonceAsync(client));
        var response = await IdentityHttp.SignInAsync(client, message, wallet.Sign(message));
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    private static string Usd(long micro) => (micro / 1e6).ToString(micro % 10_000 == 0 ? "F2" : "F6", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Dashboard_SignedInAdmin_DrawsSpendByPoolAndShowsTheApisNumbers()
    {
        var community = await app.CommunityAsync(5_000_000, TestWallet.Third.Address.ToChecksumString());
        await app.ChatSpendAsync(community, "0x1111111111111111111111111111111111111111", 200_000, 120_000, "cheap");
        await app.ChatSpendAsync(community, "0x2222222222222222222222222222222222222222", 900_000, 730_000, "reviewer");
        using var http = new HttpClient { BaseAddress = new Uri(app.BaseUrl) };
        var usage = await http.WithBearer(FreesideApp.AdminToken).GetFromJsonAsync<JsonElement>($"/api/v1/admin/communities/{community.Slug}/usage?period=month");
        var token = await SessionTokenAsync(TestWallet.Third);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium(), Headless = true, Args = ["--no-sandbox"] });
        var context = await browser.NewContextAsync();
        await context.AddCookiesAsync([new Microsoft.Playwright.Cookie { Name = "freeside_session", Value = token, Url = app.BaseUrl }]);
        var page = await context.NewPageAsync();
        await page.GotoAsync($"{app.BaseUrl}/admin/{community.Slug}");
        await page.WaitForSelectorAsync("body[data-loaded]");

        (await page.GetAttributeAsync("body", "data-loaded")).ShouldBe("true", await page.TextContentAsync("#error"));
        var points = await page.Locator("#chart svg rect.point").EvaluateAllAsync<string[][]>(
            "rects => rects.map(r => [r.dataset.pool, r.dataset.micro, r.getAttribute('height')])");
        points.Select(p => (p[0], long.Parse(p[1], CultureInfo.InvariantCulture))).Order()
            .ShouldBe([("cheap", 120_000L), ("reviewer", 730_000L)]);
        points.ShouldAllBe(p => double.Parse(p[2], CultureInfo.InvariantCulture) > 0);
        (await page.TextContentAsync("#total-spend")).ShouldBe(Usd(usage.GetProperty("total_spend_micro").GetInt64()));
        (await page.TextContentAsync("#balance")).ShouldBe(Usd(usage.GetProperty("balance_micro").GetInt64()) + " USD");
        (await page.TextContentAsync("#burn-rate")).ShouldBe(Usd(usage.GetProperty("burn_rate_micro_per_day").GetInt64()));
        (await page.TextContentAsync("#depletion")).ShouldBe(usage.GetProperty("projected_depletion_at").GetString()![..10]);
        (await page.GetAttributeAsync("#conservation-light", "class")).ShouldBe("light ok");
        (await page.Locator("#wallets tbody tr").CountAsync()).ShouldBe(2);
        (await page.GetAttributeAsync("#audit-csv", "href")).ShouldBe($"/api/v1/admin/communities/{community.Slug}/audit?format=csv");
    }

    [Fact]
    public async Task Dashboard_SignedOut_ShowsNoDataAndSaysWhy()
    {
        var community = await app.CommunityAsync(5_000_000);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium(), Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync();
        await page.GotoAsync($"{app.BaseUrl}/admin/{community.Slug}");
        await page.WaitForSelectorAsync("body[data-loaded]");

        (await page.GetAttributeAsync("body", "data-loaded")).ShouldBe("error");
        (await page.TextContentAsync("#error"))!.ShouldContain("401");
        (await page.Locator("#chart svg").CountAsync()).ShouldBe(0);
    }
}
