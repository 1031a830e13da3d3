using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace Freeside.Features.Telegram;

public sealed class TelegramCapability : ICapability
{
    public object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors) =>
        TelegramSettings.Load(configuration, errors);

    public void AddServices(IServiceCollection services, FreesideSettings settings)
    {
        services.AddHttpClient(TelegramBot.HttpClientName, client => client.Timeout = TimeSpan.FromSeconds(TelegramConnector.PollTimeoutSeconds + 15));
        services.AddSingleton<TelegramBot>();
        services.AddSingleton<TelegramUpdateQueue>();
        services.ConfigureAllQuartzSchedulers(PurgeUpdatesJob.Schedule);
        if (settings.Capability<TelegramSettings>().Enabled)
        {
            services.AddHostedService<TelegramUpdateWorker>();
            services.AddHostedService<TelegramConnector>();
        }
    }
}
