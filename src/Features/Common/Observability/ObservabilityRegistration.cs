using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
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
        services.AddSingleton<RedactedHttpClientLogger>();
        services.ConfigureHttpClientDefaults(http => http.RemoveAllLoggers().AddLogger<RedactedHttpClientLogger>());
        services.AddSingleton<FreesideMetrics>();
        services.AddSingleton(provider => new PrometheusExporter(provider.GetRequiredService<IMeterFactory>(), Meters));
        services.AddSingleton(_ =>
        {
            var otlpEndpoint = configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
            if (string.IsNullOrWhiteSpace(otlpEndpoint))
            {
                return new MeterProviderHolder(null);
            }

            return new MeterProviderHolder(Sdk.CreateMeterProviderBuilder()
                .AddMeter(Meters)
                .AddOtlpExporter(options => options.Endpoint = new Uri(otlpEndpoint))
                .Build());
        });
        return services;
    }
}

/// <summary>Keeps the OTLP meter provider (when configured) alive for the host's lifetime.</summary>
public sealed class MeterProviderHolder(MeterProvider? provider) : IDisposable
{
    public MeterProvider? Provider { get; } = provider;

    public void Dispose() => Provider?.Dispose();
}
