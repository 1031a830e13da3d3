using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace Freeside.Features.Common.Observability;

public static class ObservabilityRegistration
{
    /// <summary>The meters scraped at /metrics and exported over OTLP.</summary>
    public static readonly string[] Meters =
    [
        FreesideMetrics.MeterName,
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "System.Runtime",
        "Npgsql",
    ];

    public static IServiceCollection AddFreesideObservability(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddMetrics();
        services.AddSingleton<FreesideMetrics>();
        services.AddSingleton<PrometheusExporter>();
        services.AddSingleton(provider =>
        {
            var builder = Sdk.CreateMeterProviderBuilder()
                .AddMeter(Meters)
                .AddReader(provider.GetRequiredService<PrometheusExporter>().Reader);
            var otlpEndpoint = configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
            if (!string.IsNullOrWhiteSpace(otlpEndpoint))
            {
                builder.AddOtlpExporter(options => options.Endpoint = new Uri(otlpEndpoint));
            }

            return new MeterProviderHolder(builder.Build());
        });
        return services;
    }
}

/// <summary>Keeps the SDK meter provider alive for the host's lifetime and disposes it at shutdown.</summary>
public sealed class MeterProviderHolder(MeterProvider provider) : IDisposable
{
    public MeterProvider Provider { get; } = provider;

    public void Dispose() => Provider.Dispose();
}
