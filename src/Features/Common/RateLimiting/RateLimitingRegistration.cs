using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Common.RateLimiting;

public static class RateLimitingRegistration
{
    public static IServiceCollection AddFreesideRateLimiting(this IServiceCollection services, RateLimitSettings settings)
    {
        services.AddSingleton(settings);
        services.AddSingleton<RateLimiter>();
        return services;
    }
}
