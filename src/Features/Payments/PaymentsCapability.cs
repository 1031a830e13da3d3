using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Quartz;
using Freeside.Features.Payments.NowPayments;

namespace Freeside.Features.Payments;

/// <summary>Where NOWPayments sends IPNs for our invoices.</summary>
public sealed record PaymentLinks(Uri IpnCallbackUrl);

public sealed class PaymentsCapability : ICapability
{
    public object? LoadSettings(IConfiguration configuration, bool isDevelopment, List<string> errors) =>
        PaymentsSettings.Load(configuration, isDevelopment, errors);

    public void AddServices(IServiceCollection services, FreesideSettings settings)
    {
        services.TryAddSingleton<PaymentsMetrics>();
        var payments = settings.Capability<PaymentsSettings>();
        if (payments.Simulator)
        {
            // The client talks to the stand-in on this process's own public listener.
            payments = payments with { ApiUrl = new Uri(settings.PublicUrls[0], NowPaymentsSimulator.BasePath + "/") };
            services.Replace(ServiceDescriptor.Singleton(payments));
        }

        services.AddHttpClient(NowPaymentsSimulator.HttpClientName, client => client.Timeout = TimeSpan.FromSeconds(10));
        services.TryAddSingleton<NowPaymentsSimulator>();
        services.TryAddSingleton(new IpnVerifier(payments.IpnSecret));
        services.AddHttpClient(NowPaymentsClient.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan);
        services.TryAddSingleton<NowPaymentsClient>();
        services.TryAddScoped<PaymentTransitions>();
        services.TryAddSingleton<PaymentEventSignal>();
        services.TryAddSingleton<PaymentEventApplier>();
        services.AddHostedService(provider => provider.GetRequiredService<PaymentEventApplier>());
        services.ConfigureAllQuartzSchedulers(PaymentsJobs.Schedule);
        services.TryAddSingleton(new PaymentLinks(payments.IpnCallbackUrl ?? new Uri(settings.PublicUrls[0], "/api/crypto/webhook")));
    }
}
