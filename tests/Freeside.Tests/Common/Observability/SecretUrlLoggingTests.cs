using System.Net;
using System.Net.Sockets;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Identity.Ownership;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Freeside.Tests.Common.Observability;

/// <summary>
/// Every URL setting that can carry a credential, each with a marked secret in its user info, path
/// or query, and every log level captured: none of the marks may appear in any log entry.
/// </summary>
public sealed class SecretUrlApp : FreesideApp
{
    public const string RpcPathSecret = "rpc-path-secret-4f1c";
    public const string RpcQuerySecret = "rpc-query-secret-9a2e";
    public const string RpcUserSecret = "rpc-user-secret-77d0";
    public const string DatabaseSecret = "db-password-secret-31b5";
    public const string RedisSecret = "redis-password-secret-c6e8";
    public const string OtlpSecret = "otlp-secret-0d4a";

    public static readonly string[] Secrets = [RpcPathSecret, RpcQuerySecret, RpcUserSecret, DatabaseSecret, RedisSecret, OtlpSecret];

    public CapturingLoggerProvider Logs { get; } = new();

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        var closed = ClosedPort();
        settings["CHAIN_RPC_URLS"] = $"31337=http://{RpcUserSecret}:pw@127.0.0.1:{closed}/v2/{RpcPathSecret}?apikey={RpcQuerySecret}";
        settings["CHAIN_RPC_TIMEOUT_SECONDS"] = "1";
        // The test cluster trusts loopback, so the password is sent and ignored.
        settings["DATABASE_URL"] = database.AppConnectionString + ";Password=" + DatabaseSecret;
        // Redis has no password here: AUTH fails, which exercises the failure logging too.
        settings["REDIS_URL"] = TestEnvironment.RedisUrl!.Replace("redis://", $"redis://:{RedisSecret}@", StringComparison.Ordinal);
        settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{closed}/{OtlpSecret}/v1/metrics?token={OtlpSecret}";
        return settings;
    }

    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton<ILoggerProvider>(Logs);
        services.Configure<LoggerFilterOptions>(options =>
            options.Rules.Add(new LoggerFilterRule(typeof(CapturingLoggerProvider).FullName, null, LogLevel.Trace, null)));
    }

    private static int ClosedPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}

public sealed class SecretUrlLoggingTests(SecretUrlApp app) : IClassFixture<SecretUrlApp>
{
    [Fact]
    public async Task Logs_AfterChainDatabaseAndRedisTraffic_NeverContainTheUrlsSecrets()
    {
        var reader = app.Services.GetRequiredService<ChainReader>();
        var owner = PersonalSign.PrivateKeyToAddress(Convert.FromHexString("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"));

        var balance = await reader.BalanceOfAsync(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", owner, CancellationToken.None);
        (await app.CreateClient().GetAsync("/health")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await app.CreateClient().GetAsync("/api/v1/auth/nonce")).StatusCode.ShouldBe(HttpStatusCode.OK);

        balance.IsSuccess.ShouldBeFalse("the RPC port is closed, so the call failed and had its chance to log");
        app.Logs.Entries.ShouldContain(e => e.Category.Contains("HttpClient", StringComparison.Ordinal) && e.Message.Contains("http://127.0.0.1:", StringComparison.Ordinal),
            "the chain call was logged, by origin (otherwise this test proves nothing)");
        var leaks = app.Logs.Entries
            .Select(e => $"{e.Category} {e.Level} {e.Message} {e.State} {e.Exception}")
            .Where(text => SecretUrlApp.Secrets.Any(secret => text.Contains(secret, StringComparison.Ordinal)))
            .ToList();
        leaks.ShouldBeEmpty();
    }
}
