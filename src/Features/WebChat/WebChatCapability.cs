using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.WebChat;

public sealed class WebChatCapability : ICapability
{
    public object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors) =>
        WebChatSettings.Load(configuration, errors);

    public void AddServices(IServiceCollection services, FreesideSettings settings)
    {
        services.AddSingleton<WebChatAssets>();
        services.AddSingleton<WalletSockets>();
        services.AddSingleton<FrameBudgets>();
        services.AddSingleton<SocketHub>();
        services.AddHostedService(provider => provider.GetRequiredService<SocketHub>());
    }
}
