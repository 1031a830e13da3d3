using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Inference.Finn;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Inference;

public sealed class InferenceCapability : ICapability
{
    public object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors) =>
        InferenceSettings.Load(configuration, errors);

    public void AddServices(IServiceCollection services, FreesideSettings settings)
    {
        // Timeouts are the client's: a first-byte deadline, then a stream that may run for minutes.
        services.AddHttpClient(FinnClient.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan);
        services.AddSingleton<InferenceMetrics>();
        services.AddSingleton<FinnClient>();
        services.AddSingleton<ProfileCache>();
    }
}
