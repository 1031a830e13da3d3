using System.Net;
using Freeside.Features.Developers;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Developers;

/// <summary>Two hosts on one database and one Redis, as two replicas behind a load balancer.</summary>
public sealed class ReplicasTests : IAsyncLifetime
{
    private const string PepperOne = "first-pepper-0123456789-0123456789-abc";
    private const string PepperTwo = "second-pepper-0123456789-0123456789-xyz";
    private TestDatabase _database = null!;
    private readonly List<WebApplicationFactory<Program>> _hosts = [];

    public async Task InitializeAsync() => _database = await TestDatabase.CreateAsync();

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }

        await _database.DisposeAsync();
    }

    private WebApplicationFactory<Program> Replica(params (string Name, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["DATABASE_URL"] = _database.AppConnectionString,
            ["DATABASE_MIGRATION_URL"] = _database.OwnerConnectionString,
            ["REDIS_URL"] = TestEnvironment.RedisUrl,
            ["FREESIDE_ADMIN_TOKEN"] = FreesideApp.AdminToken,
            ["FREESIDE_JOBS_ENABLED"] = "false",
        }.WithRateLimitsRaised();
        foreach (var (name, value) in extra)
        {
            settings[name] = value;
        }

        var host = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Development");
            foreach (var (key, value) in settings)
            {
                builder.UseSetting(key, value ?? "");
            }
        });
        host.StartServer();
        _hosts.Add(host);
        return host;
    }


    private static async Task<HttpClient> SessionAsync(WebApplicationFactory<Program> host)
    {
        var client = host.CreateClient();
        var wallet = DeveloperKit.NewWallet();
        var nonce = await Identity.IdentityHttp.NonceAsync(client);
        var message = wallet.Message(nonce);
        var signed = await Identity.IdentityHttp.SignInAsync(client, message, wallet.Sign(message));
        signed.EnsureSuccessStatusCode();
        var token = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<System.Text.Json.JsonElement>(signed.Content))
            .GetProperty("token").GetString()!;
        return Identity.IdentityHttp.WithBearer(host.CreateClient(), token);
    }

    [Fact]
    public async Task DeleteKey_OnOneReplica_RefusedOnTheOtherFromItsNextRequest()
    {
        var a = Replica();
        var b = Replica();
        if (TestEnvironment.RedisUrl is null)
        {
            return; // The fan-out needs Redis; ./build.sh test always has it.
        }

        await b.Services.GetRequiredService<ApiKeyChanges>().Subscribed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var session = await SessionAsync(a);
        var (id, key) = await DeveloperKit.CreateKeyAsync(session, "live");
        var onB = b.CreateClient().WithKey(key);
        (await onB.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK); // now cached on B

        var heard = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Services.GetRequiredService<ApiKeyChanges>().Applied += message =>
        {
            if (message == "key:" + id)
            {
                heard.TrySetResult();
            }
        };
        (await session.DeleteAsync($"/api/v1/developer/keys/{id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await heard.Task.WaitAsync(TimeSpan.FromSeconds(30));

        (await onB.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task PepperVersions_NewestSignsEveryConfiguredOneVerifies()
    {
        var old = Replica(("API_KEY_PEPPER_V1", PepperOne));
        var session = await SessionAsync(old);
        var (oldId, oldKey) = await DeveloperKit.CreateKeyAsync(session, "live");

        var rotated = Replica(("API_KEY_PEPPER_V1", PepperOne), ("API_KEY_PEPPER_V2", PepperTwo));
        var newSession = await SessionAsync(rotated);
        var (newId, newKey) = await DeveloperKit.CreateKeyAsync(newSession, "live");

        (await _database.ScalarAsync<int>("SELECT pepper_version FROM api_keys WHERE id = @id", ("id", oldId))).ShouldBe(1);
        (await _database.ScalarAsync<int>("SELECT pepper_version FROM api_keys WHERE id = @id", ("id", newId))).ShouldBe(2);
        (await rotated.CreateClient().WithKey(oldKey).GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await rotated.CreateClient().WithKey(newKey).GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // A replica without the pepper a key was made with cannot verify it: it refuses rather than guess.
        var withoutOne = Replica(("API_KEY_PEPPER_V2", PepperTwo));
        (await withoutOne.CreateClient().WithKey(oldKey).GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await withoutOne.CreateClient().WithKey(newKey).GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
