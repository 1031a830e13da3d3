using Freeside.Features.Identity.Keys;
using Freeside.Features.Identity.Ownership;
using Freeside.Features.Identity.S2S;
using Freeside.Features.Identity.Sessions;
using Freeside.Features.Identity.Siwe;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace Freeside.Features.Identity;

public static class IdentityRegistration
{
    public static IServiceCollection AddIdentity(this IServiceCollection services, IdentitySettings settings)
    {
        services.AddSingleton<KeyProtector>();
        services.AddSingleton<SigningKeyRing>();
        services.AddSingleton<SessionTokens>();
        services.AddSingleton<RevocationList>();
        services.AddSingleton<S2SJwtSigner>();
        services.AddSingleton<SiwePolicy>();
        services.AddScoped<SiweProof>();
        services.AddScoped<NonceStore>();
        services.AddHostedService<SigningKeyBootstrap>();
        services.AddSingleton<SigningKeyRevocationFanout>();
        services.AddHostedService(provider => provider.GetRequiredService<SigningKeyRevocationFanout>());

        services.AddMemoryCache();
        services.AddHttpClient(ChainReader.HttpClientName, client => client.Timeout = TimeSpan.FromSeconds(30));
        services.AddSingleton<ChainReader>();
        services.AddSingleton<OwnershipCache>();
        services.AddSingleton<NftOwnership>();

        services.ConfigureAllQuartzSchedulers(quartz =>
        {
            quartz.ScheduleJob<RotateSigningKeysJob>(trigger => trigger
                .WithIdentity("identity.rotate-signing-key")
                .WithCronSchedule(RotateSigningKeysJob.Schedule));
            quartz.ScheduleJob<PurgeExpiredIdentityRecordsJob>(trigger => trigger
                .WithIdentity("identity.purge-expired")
                .WithCronSchedule(PurgeExpiredIdentityRecordsJob.Schedule));
        });
        return services;
    }
}
