using System.Reflection;
using Carter;
using FluentValidation;
using Freeside.Features.Common;
using Freeside.Features.Common.Mediation;
using MediatR;

namespace Freeside.Tests.Architecture;

public sealed class SliceRulesTests
{
    private static readonly Assembly Features = typeof(FeatureRegistration).Assembly;

    private static string? Capability(Type type) =>
        type.Namespace is { } ns && ns.StartsWith("Freeside.Features.", StringComparison.Ordinal) ? ns.Split('.')[2] : null;

    private static IEnumerable<Type> Handlers() => Features.GetTypes().Where(t => t.GetInterfaces()
        .Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IRequestHandler<,>)));

    [Fact]
    public void EveryCommand_HasAValidator()
    {
        var commands = Features.GetTypes().Where(t => !t.IsAbstract && t.GetInterfaces()
            .Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ICommand<>))).ToList();
        var validated = Features.GetTypes()
            .SelectMany(t => t.GetInterfaces())
            .Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IValidator<>))
            .Select(i => i.GetGenericArguments()[0])
            .ToHashSet();

        commands.ShouldNotBeEmpty();
        commands.Where(c => !validated.Contains(c)).Select(c => c.FullName).ShouldBeEmpty();
    }

    private static List<Type> CarterModules() => Features.GetTypes()
        .Where(t => t is { IsAbstract: false, IsInterface: false } && typeof(ICarterModule).IsAssignableFrom(t))
        .ToList();

    [Fact]
    public void CarterModules_HaveNoConstructorParameters()
    {
        var modules = CarterModules();

        modules.ShouldNotBeEmpty();
        modules.Where(m => m.GetConstructors().Any(c => c.GetParameters().Length > 0)).Select(m => m.FullName).ShouldBeEmpty();
    }

    [Fact]
    public void CarterModules_OnePerCapability()
    {
        var modules = CarterModules();

        modules.ShouldNotBeEmpty();
        modules.Where(m => Capability(m) is null or "Common").Select(m => m.FullName).ShouldBeEmpty();
        modules.GroupBy(Capability).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Name))}").ShouldBeEmpty();
    }

    [Fact]
    public void Capabilities_AtMostOneICapabilityEach_WithoutConstructorParameters()
    {
        var capabilities = Features.GetTypes()
            .Where(t => t is { IsAbstract: false, IsInterface: false } && typeof(ICapability).IsAssignableFrom(t))
            .ToList();

        capabilities.ShouldNotBeEmpty();
        capabilities.Select(t => t.FullName).ShouldBe(Capabilities.All.Select(c => c.GetType().FullName), ignoreOrder: true);
        capabilities.Where(t => Capability(t) is null or "Common").Select(t => t.FullName).ShouldBeEmpty();
        capabilities.GroupBy(Capability).Where(g => g.Count() > 1).Select(g => g.Key).ShouldBeEmpty();
        capabilities.Where(t => t.GetConstructors().Any(c => c.GetParameters().Length > 0)).Select(t => t.FullName).ShouldBeEmpty();
    }

    [Fact]
    public void SliceTypes_AreNeverNamedResult()
    {
        // A nested Result beside Common's Result<T> reads as Result<Result>; slices answer a View.
        var nested = Features.GetTypes().Where(t => t.IsNested && Capability(t) is not null and not "Common").ToList();

        nested.ShouldContain(t => t.Name == "View");
        nested.Where(t => t.Name == "Result").Select(t => t.FullName).ShouldBeEmpty();
    }

    [Fact]
    public void Handlers_NeverUseAnotherSlicesHandler()
    {
        var handlers = Handlers().ToList();
        handlers.ShouldNotBeEmpty();
        var handlerTypes = handlers.ToHashSet();

        var offences = new List<string>();
        foreach (var type in Features.GetTypes().Where(t => Capability(t) is not null and not "Common"))
        {
            foreach (var used in ReferencedTypes(type).Where(handlerTypes.Contains))
            {
                if (Capability(used) != Capability(type))
                {
                    offences.Add($"{type.FullName} uses {used.FullName}");
                }
            }
        }

        offences.ShouldBeEmpty();
    }

    [Fact]
    public void ReferencedTypes_SeesConstructorDependencies()
    {
        // Guards the rule above against going blind: a known handler dependency must be found.
        var handler = Handlers().First(h => h.DeclaringType?.Name == "CreateCommunity");

        ReferencedTypes(handler).ShouldContain(typeof(Freeside.Features.Common.Persistence.FreesideDb));
    }

    private static IEnumerable<Type> ReferencedTypes(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var field in type.GetFields(all))
        {
            yield return field.FieldType;
        }

        foreach (var constructor in type.GetConstructors(all))
        {
            foreach (var parameter in constructor.GetParameters())
            {
                yield return parameter.ParameterType;
            }
        }

        foreach (var method in type.GetMethods(all))
        {
            foreach (var parameter in method.GetParameters())
            {
                yield return parameter.ParameterType;
            }

            foreach (var referenced in IlReferences(method))
            {
                yield return referenced;
            }
        }
    }

    /// <summary>Types whose members or constructors a method body calls (call, callvirt, newobj, ldtoken).</summary>
    private static IEnumerable<Type> IlReferences(MethodInfo method)
    {
        byte[]? il;
        try
        {
            il = method.GetMethodBody()?.GetILAsByteArray();
        }
        catch (InvalidOperationException)
        {
            yield break;
        }

        if (il is null)
        {
            yield break;
        }

        for (var i = 0; i + 4 < il.Length; i++)
        {
            if (il[i] is not (0x28 or 0x6F or 0x73 or 0xD0))
            {
                continue;
            }

            var token = BitConverter.ToInt32(il, i + 1);
            Type? found = null;
            try
            {
                found = method.Module.ResolveMember(token, method.DeclaringType?.GetGenericArguments(), method.GetGenericArguments()) switch
                {
                    MethodBase m => m.DeclaringType,
                    Type t => t,
                    _ => null,
                };
            }
            catch (ArgumentException)
            {
            }

            if (found is not null)
            {
                yield return found;
            }
        }
    }
}
