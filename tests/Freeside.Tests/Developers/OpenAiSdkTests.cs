using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Inference;
using Freeside.Tests.Identity;
using Freeside.Tests.Inference;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Freeside.Tests.Developers;

/// <summary>
/// Freeside on a real loopback port (Kestrel), with the finn stand-in, so a Node process can call it. The
/// factory's own client would go to the first listener (the management one), so every client here is made
/// for <see cref="BaseUrl"/>.
/// </summary>
public sealed class KestrelDeveloperApp : FreesideApp, IAsyncLifetime
{
    private readonly int _finnPort = FinnStubProcess.FreePort();
    private FinnStubProcess? _stub;

    public int Port { get; } = FinnStubProcess.FreePort();

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public HttpClient Client() => new() { BaseAddress = new Uri(BaseUrl) };

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["FREESIDE_URLS"] = BaseUrl;
        settings["FREESIDE_MANAGEMENT_URLS"] = $"http://127.0.0.1:{FinnStubProcess.FreePort()}";
        settings["LOA_FINN_URL"] = $"http://127.0.0.1:{_finnPort}";
        return settings;
    }

    protected override void Configure(WebApplicationFactory<Program> factory) => factory.UseKestrel();

    public new async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _stub = await FinnStubProcess.StartAsync(_finnPort, Client);
    }

    public new async Task DisposeAsync()
    {
        if (_stub is not null)
        {
            await _stub.DisposeAsync();
        }

        await base.DisposeAsync();
    }
}

/// <summary>The official <c>openai</c> npm client (tools/openai-e2e, installed by build.sh) against Freeside, unmodified.</summary>
public sealed class OpenAiSdkTests(KestrelDeveloperApp app) : IClassFixture<KestrelDeveloperApp>
{
    private static string ScriptDirectory => Path.Combine(TestEnvironment.RepositoryRoot, "tools", "openai-e2e");

    private async Task<HttpClient> SessionAsync(TestWallet wallet)
    {
        using var client = app.Client();
        var nonce = await IdentityHttp.NonceAsync(client);
        var message = wallet.Message(nonce, domain: $"127.0.0.1:{app.Port}");
        var signed = await IdentityHttp.SignInAsync(client, message, wallet.Sign(message));
        signed.StatusCode.ShouldBe(HttpStatusCode.OK, await signed.Content.ReadAsStringAsync());
        var token = (await signed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
        return app.Client().WithBearer(token);
    }

    private async Task<JsonElement> RunAsync(string key)
    {
        Directory.Exists(Path.Combine(ScriptDirectory, "node_modules", "openai"))
            .ShouldBeTrue("tools/openai-e2e has no node_modules: run ./build.sh test (it runs npm ci there).");
        var start = new ProcessStartInfo("node") { WorkingDirectory = ScriptDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "e2e.mjs", "--base-url", app.BaseUrl, "--key", key })
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        process.ExitCode.ShouldBe(0, await stderr);
        return JsonDocument.Parse(await stdout).RootElement.Clone();
    }

    [Fact]
    public async Task OpenAiClient_ModelsPlainAndStreamedCompletions_WorkAndAreChargedExactly()
    {
        var wallet = DeveloperKit.NewWallet();
        var session = await SessionAsync(wallet);
        using var admin = app.Client().WithBearer(FreesideApp.AdminToken);
        (await admin.PostAsJsonAsync($"/api/v1/admin/developers/{wallet.Address.ToChecksumString()}/grants",
            new { amount_micro = 1_000_000, reason = "e2e", idempotency_key = "e2e" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var (keyId, key) = await DeveloperKit.CreateKeyAsync(session, "live");

        var seen = await RunAsync(key);

        seen.GetProperty("models").EnumerateArray().Select(m => m.GetString()).ShouldBe(["cheap", "fast-code", "reviewer"]);
        var plain = seen.GetProperty("plain");
        plain.GetProperty("object").GetString().ShouldBe("chat.completion");
        plain.GetProperty("content").GetString()!.Split(' ').Length.ShouldBe(24);
        plain.GetProperty("finish_reason").GetString().ShouldBe("stop");
        var stream = seen.GetProperty("stream");
        stream.GetProperty("content").GetString().ShouldBe(plain.GetProperty("content").GetString());
        stream.GetProperty("finish_reason").GetString().ShouldBe("stop");
        stream.GetProperty("ids").GetArrayLength().ShouldBe(1);
        stream.GetProperty("chunks").GetInt32().ShouldBeGreaterThan(3); // role, content deltas (the anti-narration filter may join some), finish, usage
        var streamUsage = stream.GetProperty("usage");
        streamUsage.GetProperty("completion_tokens").GetInt64().ShouldBe(24);

        var unknown = seen.GetProperty("unknown_model");
        unknown.GetProperty("class").GetString().ShouldBe("NotFoundError");
        unknown.GetProperty("code").GetString().ShouldBe("model_not_found");
        var badKey = seen.GetProperty("bad_key");
        badKey.GetProperty("class").GetString().ShouldBe("AuthenticationError");
        badKey.GetProperty("code").GetString().ShouldBe("invalid_api_key");

        // Both calls metered: charged exactly finn's price for what each reported, and nothing left held.
        var plainUsage = plain.GetProperty("usage");
        var expected = PoolCatalog.CostMicro("cheap", plainUsage.GetProperty("prompt_tokens").GetInt64(), plainUsage.GetProperty("completion_tokens").GetInt64())
            + PoolCatalog.CostMicro("cheap", streamUsage.GetProperty("prompt_tokens").GetInt64(), streamUsage.GetProperty("completion_tokens").GetInt64());
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM api_calls WHERE key_id = @k AND completed", ("k", keyId))).ShouldBe(2);
        (await app.Database.ScalarAsync<long>("SELECT sum(amount_micro) FROM api_calls WHERE key_id = @k", ("k", keyId))).ShouldBe(expected);
        var developer = Freeside.Features.Payments.CreatePayment.DeveloperId(wallet.Address);
        (await app.Database.ScalarAsync<long>(
            "SELECT 1000000 - sum(l.available) FROM credit_lots l JOIN credit_accounts a ON a.id = l.account_id WHERE a.developer_id = @d", ("d", developer))).ShouldBe(expected);
        (await app.Database.ScalarAsync<long>(
            "SELECT count(*) FROM credit_reservations r JOIN credit_accounts a ON a.id = r.account_id WHERE a.developer_id = @d AND r.status <> 'finalized'", ("d", developer))).ShouldBe(0);
    }
}
