using System.Net.Http.Json;
using System.Text;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Playwright;

namespace Freeside.Tests.WebChat;

/// <summary>The web chat app plus Debian's chromium under Playwright, and a page on another site that embeds the widget.</summary>
public sealed class BrowserApp : WebChatApp, IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";

    private WebApplication? _site;
    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>"localhost", not 127.0.0.1: another site, so the framed chat gets no SameSite=Strict cookie, as on a real embedding site.</summary>
    public Uri SiteUrl { get; private set; } = null!;

    public new async Task InitializeAsync()
    {
        File.Exists(Chromium).ShouldBeTrue($"{Chromium} is missing: build.sh installs Debian's chromium (apt-get install chromium) for the browser tests.");
        await base.InitializeAsync();
        var sitePort = FinnStubProcess.FreePort();
        SiteUrl = new Uri($"http://localhost:{sitePort}");
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{sitePort}");
        _site = builder.Build();
        _site.MapGet("/{slug}/{token}", (string slug, string token, string? position) => Results.Content($"""
            <!doctype html><html><head><title>Fan site</title></head><body><h1>Our fan site</h1>
            <script src="{BaseUrl}widget/v1/widget.js" data-community="{slug}" data-token-id="{token}" data-theme="dark" data-position="{position ?? "bottom-right"}"></script>
            </body></html>
            """, "text/html"));
        await _site.StartAsync();
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true });
    }

    public new async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_site is not null)
        {
            await _site.DisposeAsync();
        }

        await base.DisposeAsync();
    }

    /// <summary>
    /// A browser context whose pages (and frames) have an EIP-1193 <c>window.ethereum</c> that signs with
    /// <paramref name="wallet"/>'s private key in the test process, the way a wallet extension would.
    /// </summary>
    public async Task<IBrowserContext> ContextAsync(TestWallet wallet, int width = 1280, int height = 800)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
        await context.ExposeFunctionAsync("__testWalletSign", (string hex) =>
            wallet.Sign(Encoding.UTF8.GetString(Convert.FromHexString(hex.StartsWith("0x", StringComparison.Ordinal) ? hex[2..] : hex))));
        var address = wallet.Address.ToChecksumString().ToLowerInvariant();
        await context.AddInitScriptAsync($$"""
            window.ethereum = {
              isTestWallet: true,
              request: async ({ method, params }) => {
                if (method === "eth_requestAccounts" || method === "eth_accounts") return ["{{address}}"];
                if (method === "eth_chainId") return "0x7a69";
                if (method === "personal_sign") return await window.__testWalletSign(params[0]);
                throw Object.assign(new Error("unsupported " + method), { code: 4200 });
              },
            };
            """);
        return context;
    }
}

/// <summary>Issue 12 proofs in a real browser; on failure a screenshot and the console are written under the test output.</summary>
public sealed class BrowserTests(BrowserApp app) : IClassFixture<BrowserApp>
{
    private const string Slug = "web-browser";

    private static string Artifacts => Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "playwright-artifacts")).FullName;

    private async Task InBrowserAsync(string name, TestWallet wallet, Func<IPage, Task> steps, int width = 1280, int height = 800)
    {
        await using var context = await app.ContextAsync(wallet, width, height);
        var page = await context.NewPageAsync();
        var console = new List<string>();
        page.Console += (_, message) => console.Add($"[{message.Type}] {message.Text}");
        page.PageError += (_, error) => console.Add("[pageerror] " + error);
        try
        {
            await steps(page);
        }
        catch (Exception e)
        {
            var shot = Path.Combine(Artifacts, name + ".failure.png");
            var log = Path.Combine(Artifacts, name + ".console.txt");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
            await File.WriteAllLinesAsync(log, console);
            throw new InvalidOperationException($"Browser test {name} failed; screenshot {shot}, console {log}: {e.Message}", e);
        }
    }

    private static async Task SignInAsync(IPage page)
    {
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in with wallet" }).ClickAsync();
        await Assertions.Expect(page.Locator("#composer")).ToBeVisibleAsync();
    }

    private static async Task ChatAsync(IPage page, string message)
    {
        var before = await page.Locator(".msg.agent").CountAsync();
        await page.Locator("#message").FillAsync(message);
        await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();
        // Tokens arrive one by one (the stand-in waits between them): the answer is seen streaming, then settled.
        await Assertions.Expect(page.Locator(".msg.agent.streaming")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator(".msg.agent")).ToHaveCountAsync(before + 1);
        await Assertions.Expect(page.Locator(".msg.agent.streaming")).ToHaveCountAsync(0, new() { Timeout = 30_000 });
        await Assertions.Expect(page.Locator(".msg.agent .text").Last).ToContainTextAsync("the quiet signal");
    }

    [Fact]
    public async Task Page_SignInChatReload_StreamsThenShowsHistoryAndBalance()
    {
        await ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection);
        await InBrowserAsync(nameof(Page_SignInChatReload_StreamsThenShowsHistoryAndBalance), TestWallet.Demo, async page =>
        {
            await page.GotoAsync(new Uri(app.BaseUrl, $"/chat/{Slug}/1").ToString());
            await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign in with wallet" })).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("#composer")).ToBeHiddenAsync();

            await SignInAsync(page);
            await ChatAsync(page, "hello from the browser");
            await Assertions.Expect(page.Locator("#balance")).ToContainTextAsync("Credits: $");

            await page.ReloadAsync();
            await Assertions.Expect(page.Locator("#composer")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator(".msg.user .text").Last).ToHaveTextAsync("hello from the browser");
            await Assertions.Expect(page.Locator(".msg.agent .text").Last).ToContainTextAsync("the quiet signal");
            await Assertions.Expect(page.Locator(".msg.user .badge").Last).ToHaveTextAsync("Web");
            (await page.EvaluateAsync<string>("document.body.dataset.element")).ShouldBeOneOf("fire", "water", "earth", "air");
        });
    }

    [Fact]
    public async Task Page_SignedInNonHolder_SeesReadOnlyAndWhy()
    {
        await ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection);
        await InBrowserAsync(nameof(Page_SignedInNonHolder_SeesReadOnlyAndWhy), TestWallet.Deployer, async page =>
        {
            await page.GotoAsync(new Uri(app.BaseUrl, $"/chat/{Slug}/1").ToString());
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in with wallet" }).ClickAsync();

            await Assertions.Expect(page.Locator("#readonly")).ToContainTextAsync("belongs to another wallet");
            await Assertions.Expect(page.Locator("#composer")).ToBeHiddenAsync();
        });
    }

    [Fact]
    public async Task Page_OutOfCredits_ShowsASentenceNotACode()
    {
        await ChatHttp.CommunityAsync(app, "web-broke", app.Chain.Collection, grantMicro: 0);
        await InBrowserAsync(nameof(Page_OutOfCredits_ShowsASentenceNotACode), TestWallet.Demo, async page =>
        {
            await page.GotoAsync(new Uri(app.BaseUrl, "/chat/web-broke/1").ToString());
            await SignInAsync(page);
            await page.Locator("#message").FillAsync("anyone there?");
            await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();

            await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("Your community is out of credits. Top up to keep chatting.");
            await Assertions.Expect(page.Locator("#topup")).ToBeVisibleAsync();
        });
    }

    [Fact]
    public async Task Widget_OnAnotherSite_OpensTheChatAndChatsThroughIt()
    {
        await ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection);
        var allowed = await app.CreateAdminClient().PutAsJsonAsync($"/api/v1/communities/{Slug}/webchat-settings",
            new { allowed_origins = new[] { app.SiteUrl.ToString().TrimEnd('/') } });
        allowed.IsSuccessStatusCode.ShouldBeTrue(await allowed.Content.ReadAsStringAsync());
        await InBrowserAsync(nameof(Widget_OnAnotherSite_OpensTheChatAndChatsThroughIt), TestWallet.Demo, async page =>
        {
            await page.GotoAsync(new Uri(app.SiteUrl, $"/{Slug}/4").ToString());
            await page.GetByRole(AriaRole.Button, new() { Name = "Open the chat with agent #4" }).ClickAsync();
            var chat = page.FrameLocator("iframe[title='Chat with agent #4']");
            await chat.GetByRole(AriaRole.Button, new() { Name = "Sign in with wallet" }).ClickAsync();
            await Assertions.Expect(chat.Locator("#composer")).ToBeVisibleAsync();
            await chat.Locator("#message").FillAsync("hello through the widget");
            await chat.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();

            await Assertions.Expect(chat.Locator(".msg.agent .text").Last).ToContainTextAsync("the quiet", new() { Timeout = 30_000 });
            await Assertions.Expect(chat.Locator(".msg.agent.streaming")).ToHaveCountAsync(0, new() { Timeout = 30_000 });
            (await chat.Locator("html").GetAttributeAsync("data-theme")).ShouldBe("dark");
        });
    }

    [Fact]
    public async Task Page_MobileViewport_FitsWithoutSidewaysScrollAndIsScreenshot()
    {
        await ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection);
        await InBrowserAsync(nameof(Page_MobileViewport_FitsWithoutSidewaysScrollAndIsScreenshot), TestWallet.Demo, async page =>
        {
            await page.GotoAsync(new Uri(app.BaseUrl, $"/chat/{Slug}/8").ToString());
            await SignInAsync(page);
            await ChatAsync(page, "a small screen");
            var shot = Path.Combine(Artifacts, "chat-390x844.png");

            await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot });

            (await page.EvaluateAsync<int>("document.documentElement.scrollWidth")).ShouldBeLessThanOrEqualTo(390);
            new FileInfo(shot).Length.ShouldBeGreaterThan(0);
            var send = await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).BoundingBoxAsync();
            send!.Height.ShouldBeGreaterThanOrEqualTo(44);
        }, width: 390, height: 844);
    }
}
