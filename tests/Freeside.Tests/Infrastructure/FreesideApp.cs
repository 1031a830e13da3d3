using System.Net.Http.Headers;
using Freeside.Features.Common.Observability;
using MediatR;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Infrastructure;

/// <summary>
/// The real host (Program) on a fresh database of its own, with Redis, for one test class.
/// <see cref="SendAsync{T}"/> runs a request through the real pipeline in its own scope.
/// </summary>
public class FreesideApp : IAsyncLifetime
{
    public const string AdminToken = "test-admin-token-0123456789abcdef";

    private WebApplicationFactory<Program>? _factory;

    public TestDatabase Database { get; private set; } = null!;

    /// <summary>What this host puts before its Redis keys (its database's name).</summary>
    public string RedisKeyPrefix => RedisKeyPrefixFor(Database);

    public static string RedisKeyPrefixFor(TestDatabase database) => database.Name + ":";

    public IServiceProvider Services => Factory.Services;

    public WebApplicationFactory<Program> Factory => _factory ?? throw new InvalidOperationException("The app has not started.");

    /// <summary>Settings a test class overrides (e.g. a Redis URL that points nowhere).</summary>
    protected virtual IDictionary<string, string?> Settings(TestDatabase database) => new Dictionary<string, string?>
    {
        ["DATABASE_URL"] = database.AppConnectionString,
        ["DATABASE_MIGRATION_URL"] = database.OwnerConnectionString,
        ["REDIS_URL"] = TestEnvironment.RedisUrl,
        // Test hosts share one Redis; without a namespace of their own, one host's cached answers (an NFT's owner on
        // its own local chain, whose contract has the same address on every chain) were another host's.
        ["REDIS_KEY_PREFIX"] = RedisKeyPrefixFor(database),
        ["FREESIDE_ADMIN_TOKEN"] = AdminToken,
        ["FREESIDE_JOBS_ENABLED"] = "false",
    }.WithRateLimitsRaised();

    protected virtual void ConfigureServices(IServiceCollection services)
    {
    }

    /// <summary>Changes to the factory itself before the server starts (e.g. real Kestrel instead of the in-memory server).</summary>
    protected virtual void Configure(WebApplicationFactory<Program> factory)
    {
    }

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        var settings = Settings(Database);
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Development");
            foreach (var (key, value) in settings)
            {
                builder.UseSetting(key, value ?? "");
            }

            builder.ConfigureTestServices(ConfigureServices);
        });
        Configure(_factory);
        _factory.StartServer();
    }

    /// <summary>A client of the public listener (a Kestrel-hosted app overrides it: the factory's own client picks the management port).</summary>
    public virtual HttpClient CreateClient() => Factory.CreateClient();

    public HttpClient CreateAdminClient()
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        return client;
    }

    public async Task<TResponse> SendAsync<TResponse>(IRequest<TResponse> request)
    {
        await using var scope = Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<IMediator>().Send(request);
    }

    public async Task<T> InScopeAsync<T>(Func<IServiceProvider, Task<T>> action)
    {
        await using var scope = Services.CreateAsyncScope();
        return await action(scope.ServiceProvider);
    }

    public string ScrapeMetrics() => Services.GetRequiredService<PrometheusExporter>().Scrape();

    public async Task DisposeAsync()
    {
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }

        if (Database is not null)
        {
            await Database.DisposeAsync();
        }
    }
}

public static class RateLimitTestSettings
{
    /// <summary>
    /// Every test signs in from the same address; a class that is not about rate limits raises them
    /// out of reach (tests/Freeside.Tests/Common/RateLimiting prove the real ones).
    /// </summary>
    public static IDictionary<string, string?> WithRateLimitsRaised(this IDictionary<string, string?> settings)
    {
        foreach (var policy in Freeside.Features.Common.RateLimiting.RateLimitPolicies.Defaults)
        {
            settings[policy.SettingName] = policy.Algorithm == Freeside.Features.Common.RateLimiting.RateLimitAlgorithm.TokenBucket
                ? "1000000/1s,burst=1000000"
                : "1000000/1s";
        }

        return settings;
    }
}
