using System.Reflection;
using FluentValidation;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Freeside.Features.Common.Mediation;

public static class MediationRegistration
{
    /// <summary>
    /// Wires MediatR 5 by hand (its DI package is not in the registry copy): the mediator, every
    /// handler and validator in <paramref name="assemblies"/>, and the behaviors in pipeline order.
    /// </summary>
    public static IServiceCollection AddFreesideMediation(this IServiceCollection services, params Assembly[] assemblies)
    {
        services.TryAddScoped<ServiceFactory>(provider => provider.GetService!);
        services.TryAddScoped<IMediator, Mediator>();

        foreach (var type in assemblies.SelectMany(a => a.GetTypes()).Where(t => t is { IsAbstract: false, IsGenericTypeDefinition: false }))
        {
            foreach (var contract in type.GetInterfaces().Where(i => i.IsGenericType))
            {
                var definition = contract.GetGenericTypeDefinition();
                if (definition == typeof(IRequestHandler<,>) || definition == typeof(IRequestHandler<>)
                    || definition == typeof(INotificationHandler<>))
                {
                    services.TryAddEnumerable(ServiceDescriptor.Transient(contract, type));
                }
            }
        }

        // Validators are stateless once built and depend only on singletons (settings, the clock), so each is built
        // once: building one compiles its rules, which every request through the pipeline paid for while they were transient.
        foreach (var assembly in assemblies)
        {
            AssemblyScanner.FindValidatorsInAssembly(assembly, includeInternalTypes: true)
                .ForEach(scan => services.TryAddEnumerable(ServiceDescriptor.Singleton(scan.InterfaceType, scan.ValidatorType)));
        }

        // MediatR 5 runs the first registered behavior outermost.
        services.TryAddEnumerable(ServiceDescriptor.Scoped(typeof(IPipelineBehavior<,>), typeof(MetricsBehavior<,>)));
        services.TryAddEnumerable(ServiceDescriptor.Scoped(typeof(IPipelineBehavior<,>), typeof(ValidationBehavior<,>)));
        services.TryAddEnumerable(ServiceDescriptor.Scoped(typeof(IPipelineBehavior<,>), typeof(TransactionBehavior<,>)));
        services.TryAddEnumerable(ServiceDescriptor.Scoped(typeof(IPipelineBehavior<,>), typeof(ConservationBehavior<,>)));
        services.TryAddScoped<TouchedAccounts>();
        services.TryAddScoped<CommitNotifications>();
        return services;
    }
}
