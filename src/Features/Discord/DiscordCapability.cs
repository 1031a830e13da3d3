using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Discord.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Quartz;

namespace Freeside.Features.Discord;

public sealed class DiscordCapability : ICapability
{
    public object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors) =>
        DiscordSettings.Load(configuration, errors);

    public void AddServices(IServiceCollection services, FreesideSettings settings)
    {
        var discord = settings.Capability<DiscordSettings>();
        services.AddHttpClient(DiscordRestClient.HttpClientName, client =>
        {
            client.BaseAddress = discord.ApiUrl;
            client.Timeout = TimeSpan.FromSeconds(15);
            client.DefaultRequestHeaders.UserAgent.ParseAdd("DiscordBot (https://github.com/freeside, 1.0)");
        });
        services.AddSingleton<DiscordLimits>();
        services.AddSingleton(provider =>
        {
            var limits = provider.GetRequiredService<DiscordLimits>();
            return new DiscordRestClient(provider.GetRequiredService<IHttpClientFactory>().CreateClient(DiscordRestClient.HttpClientName), discord.BotToken,
                provider.GetRequiredService<TimeProvider>(), limits, limits.TakeGlobalUnitAsync);
        });
        services.AddSingleton<InteractionSignatureHolder>();
        services.AddSingleton<DiscordWriteSignal>();
        services.AddSingleton<InteractionDispatcher>();
        services.AddHostedService(provider => provider.GetRequiredService<InteractionDispatcher>());
        services.AddSingleton<DiscordWriteAwaiter>();
        services.AddSingleton<DiscordGateway>();
        services.AddHostedService(provider => provider.GetRequiredService<DiscordGateway>());
        services.AddSingleton<DiscordWriteWorker>();
        services.AddHostedService(provider => provider.GetRequiredService<DiscordWriteWorker>());
        services.ConfigureAllQuartzSchedulers(DiscordJobs.Schedule);
    }
}
