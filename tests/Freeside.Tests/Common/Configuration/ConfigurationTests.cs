using System.Diagnostics;
using Freeside.Features.Common.Configuration;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace Freeside.Tests.Common.Configuration;

public sealed class ConfigurationTests
{
    private static readonly Dictionary<string, string?> Valid = new()
    {
        ["DATABASE_URL"] = "postgres://freeside_app:s3cret@db.internal:5433/freeside?sslmode=require",
        ["REDIS_URL"] = "redis://:pw@cache.internal:6380/2",
        ["FREESIDE_ADMIN_TOKEN"] = "an-admin-token-that-is-long-enough-for-prod",
        ["FREESIDE_KEY_ENCRYPTION_KEY"] = Convert.ToBase64String(new byte[32]),
        ["SIWE_DOMAINS"] = "app.example.com",
    };

    private static SettingsResult Load(Dictionary<string, string?> values, bool development = false) =>
        FreesideSettings.Load(new ConfigurationBuilder().AddInMemoryCollection(values).Build(), development);

    [Fact]
    public void Load_SeedStyleUrls_ParsesThem()
    {
        var settings = Load(Valid).Settings.ShouldNotBeNull();

        settings.DatabaseConnectionString.ShouldContain("Host=db.internal");
        settings.DatabaseConnectionString.ShouldContain("Port=5433");
        settings.DatabaseConnectionString.ShouldContain("Username=freeside_app");
        settings.DatabaseConnectionString.ShouldContain("SSL Mode=Require");
        settings.MigrationConnectionString.ShouldBeNull("outside Development the owner is never DATABASE_URL's stand-in");
        settings.RedisConfiguration.ShouldBe("cache.internal:6380,password=pw,defaultDatabase=2");
        settings.ManagementUrls.Single().Port.ShouldBe(5090);
    }

    [Theory]
    [InlineData("DATABASE_URL", "nonsense")]
    [InlineData("DATABASE_URL", "postgres://host-without-database")]
    [InlineData("REDIS_URL", "http://not-redis")]
    [InlineData("FREESIDE_ADMIN_TOKEN", "short")]
    [InlineData("FREESIDE_MANAGEMENT_URLS", "http://127.0.0.1:5080")]
    [InlineData("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")]
    [InlineData("FREESIDE_MAX_REQUEST_BODY_BYTES", "lots")]
    [InlineData("REDIS_KEY_PREFIX", "has spaces:")]
    public void Load_BadSetting_NamesIt(string name, string value)
    {
        var values = new Dictionary<string, string?>(Valid) { [name] = value };

        var result = Load(values);

        result.Settings.ShouldBeNull();
        result.Errors.ShouldHaveSingleItem().ShouldStartWith(name + ":");
    }

    [Fact]
    public async Task Start_NonsenseDatabaseUrl_ExitsNonZeroWithOneLineNamingIt()
    {
        var dll = typeof(Program).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(dll);
        start.Environment["DATABASE_URL"] = "nonsense";
        start.Environment["FREESIDE_ADMIN_TOKEN"] = FreesideApp.AdminToken;
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";

        using var process = Process.Start(start)!;
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        process.ExitCode.ShouldNotBe(0);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.ShouldHaveSingleItem().ShouldContain("DATABASE_URL");
    }
}
