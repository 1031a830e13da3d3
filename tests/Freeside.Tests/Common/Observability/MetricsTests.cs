using System.Diagnostics;
using Freeside.Features.Common.Observability;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Common.Observability;

public sealed class MetricsTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Scrape_AfterTraffic_HasHttpMediatorAndRuntimeSeries()
    {
        await app.CreateClient().GetAsync("/api/v1/communities/nobody");

        var text = app.ScrapeMetrics();

        text.ShouldContain("# TYPE freeside_mediator_request_duration_seconds histogram");
        text.ShouldContain("freeside_mediator_request_duration_seconds_count{outcome=\"failure\",request_type=\"GetCommunity.Query\"}");
        text.ShouldContain("http_server_request_duration_seconds_bucket");
        text.ShouldContain("dotnet_gc_collections_total");
    }

    [Fact]
    public async Task Scrape_IsValidPrometheusText_PerPromtool()
    {
        await app.CreateClient().GetAsync("/health");
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, app.ScrapeMetrics());

        var start = new ProcessStartInfo("promtool") { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        start.ArgumentList.Add("check");
        start.ArgumentList.Add("metrics");
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(await File.ReadAllTextAsync(file));
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        File.Delete(file);

        // promtool exits 3 for lint findings (naming advice) and 1 for an unparsable exposition; both fail.
        process.ExitCode.ShouldBe(0, output);
        output.Trim().ShouldBeEmpty();
    }

    [Theory]
    [InlineData("dotnet.assembly.count", "{assembly}", false, "dotnet_assemblies")]
    [InlineData("db.client.connection.count", "{connection}", false, "db_client_connections")]
    [InlineData("dotnet.process.cpu.count", "{cpu}", false, "dotnet_process_cpus")]
    [InlineData("freeside.ledger.reversals", "{reversal}", true, "freeside_ledger_reversals_total")]
    [InlineData("http.server.request.duration", "s", false, "http_server_request_duration_seconds")]
    public void MetricName_FollowsPrometheusNaming(string name, string unit, bool isCounter, string expected) =>
        PrometheusExporter.MetricName(name, unit, isCounter).ShouldBe(expected);

    [Fact]
    public void Scrape_GaugeNamedCount_IsExportedAsAPlural()
    {
        var text = app.ScrapeMetrics();

        text.ShouldContain("# TYPE dotnet_assemblies gauge");
        text.ShouldNotContain("dotnet_assembly_count");
    }

    [Fact]
    public async Task AlertRules_PassTheirPromtoolUnitTests()
    {
        var rules = Path.Combine(TestEnvironment.RepositoryRoot, "infrastructure", "prometheus");
        var start = new ProcessStartInfo("promtool") { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = rules };
        start.ArgumentList.Add("test");
        start.ArgumentList.Add("rules");
        start.ArgumentList.Add("alerts_test.yml");
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        process.ExitCode.ShouldBe(0, output);
        output.ShouldContain("SUCCESS");
    }
}
