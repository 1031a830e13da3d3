using System.Text.Json;
using System.Text.Json.Serialization;
using Carter;
using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Endpoints;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Observability;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Common.Redis;
using Freeside.Features.Common.Time;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.OpenApi;

namespace Freeside.Web;

public static class HostingExtensions
{
    public static WebApplicationBuilder AddFreesideHosting(this WebApplicationBuilder builder, FreesideSettings settings)
    {
        builder.Logging.ClearProviders();
        builder.Logging.AddJsonConsole(options =>
        {
            options.IncludeScopes = true;
            options.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            options.UseUtcTimestamp = true;
        });

        builder.WebHost.UseUrls([.. settings.PublicUrls.Concat(settings.ManagementUrls).Select(u => u.GetLeftPart(UriPartial.Authority))]);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = settings.MaxRequestBodyBytes;
            kestrel.ConfigureEndpointDefaults(listen => listen.Use(KestrelRejections.Middleware));
        });

        builder.Services.ConfigureHttpJsonOptions(options => ConfigureJson(options.SerializerOptions));
        builder.Services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        builder.Services.AddProblemDetails(options => options.CustomizeProblemDetails = context => ProblemMapping.Normalize(context.ProblemDetails));
        builder.Services.AddExceptionHandler<FreesideExceptionHandler>();

        // Only the capabilities' assembly (Carter's default scans every assembly the host loads), in
        // name order so the OpenAPI document's order does not follow file order. Validators run once,
        // in the MediatR pipeline, so Carter registers none.
        var features = typeof(FeatureRegistration).Assembly;
        builder.Services.AddCarter(new FeaturesCatalog(), carter => carter
            .WithModules([.. features.GetTypes()
                .Where(t => t is { IsAbstract: false, IsInterface: false } && t.IsAssignableTo(typeof(ICarterModule)))
                .OrderBy(t => t.FullName, StringComparer.Ordinal)])
            .WithEmptyValidators());
        builder.Services.AddOpenApi("v1", options =>
        {
            // Slices nest generic names (Command, Query, Result); the outer class makes them unique.
            options.CreateSchemaReferenceId = type => type.Type.DeclaringType is { } outer && !type.Type.IsGenericType
                ? outer.Name + type.Type.Name
                : OpenApiOptions.CreateDefaultSchemaReferenceId(type);
            options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Freeside API";
            document.Info.Version = "v1";
            document.Info.Description = "Identity, credits, routing and trust for NFT-native AI agents.";
            document.Servers = [];
            return Task.CompletedTask;
        });
        });
        return builder;
    }

    public static void ConfigureJson(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        // Strict JSON: the web defaults read "100" as a number and let a repeated key win silently.
        options.NumberHandling = JsonNumberHandling.Strict;
        options.AllowDuplicateProperties = false;
    }

    /// <summary>Development migrates on start; every environment starts metrics collection and Redis.</summary>
    public static async Task PrepareFreesideAsync(this WebApplication app, FreesideSettings settings)
    {
        // Uptime counts from here, not from the first /health that would otherwise create the clock.
        app.Services.GetRequiredService<ProcessClock>();
        app.Services.GetRequiredService<MeterProviderHolder>();
        app.Services.GetRequiredService<PrometheusExporter>();
        if (app.Environment.IsDevelopment())
        {
            await DatabaseMigrator.MigrateAsync(settings.MigrationConnectionString!, null, app.Lifetime.ApplicationStopping);
        }

        await app.Services.GetRequiredService<RedisConnection>().ConnectAsync();
    }

    public static WebApplication UseFreesidePipeline(this WebApplication app, FreesideSettings settings)
    {
        var managementPorts = settings.ManagementUrls.Select(u => u.Port).ToHashSet();
        app.MapWhen(context => managementPorts.Contains(context.Connection.LocalPort), management => management.Run(async context =>
        {
            if (context.Request.Path == "/metrics" && HttpMethods.IsGet(context.Request.Method))
            {
                context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await context.Response.WriteAsync(context.RequestServices.GetRequiredService<PrometheusExporter>().Scrape());
                return;
            }

            context.Response.StatusCode = StatusCodes.Status404NotFound;
        }));

        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseFreesideRateLimiting();
        // Keep-alive pings and origin checks are per socket (src/Features/WebChat); this only enables the upgrade.
        app.UseWebSockets();
        app.Use((context, next) =>
        {
            // Kestrel enforces the limit while streaming; this answers early when the length is declared.
            if (context.Request.ContentLength > settings.MaxRequestBodyBytes)
            {
                throw new BadHttpRequestException(
                    $"The request body is larger than the limit of {settings.MaxRequestBodyBytes} bytes.", StatusCodes.Status413PayloadTooLarge);
            }

            return next(context);
        });

        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapCarter();
        return app;
    }
}

/// <summary>
/// Carter's catalog reads the entry assembly's dependency context, which is missing when the host
/// runs as `dotnet Freeside.Web.dll` (GetAssemblies threw a NullReferenceException at start-up);
/// the modules live in one known assembly anyway.
/// </summary>
internal sealed class FeaturesCatalog : DependencyContextAssemblyCatalog
{
    public override IReadOnlyCollection<System.Reflection.Assembly> GetAssemblies() => [typeof(FeatureRegistration).Assembly];
}
