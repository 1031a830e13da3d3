using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Persistence;
using Freeside.Web;

// appsettings.json sits beside the binaries, wherever the process is started from.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
var loaded = FreesideSettings.Load(builder.Configuration, builder.Environment.IsDevelopment());
if (loaded.Settings is not { } settings)
{
    await Console.Error.WriteLineAsync("freeside: configuration error: " + string.Join("; ", loaded.Errors));
    return 2;
}

if (args is ["migrate", ..])
{
    if (settings.MigrationConnectionString is not { } owner)
    {
        await Console.Error.WriteLineAsync("freeside: configuration error: DATABASE_MIGRATION_URL: is required to migrate (the owner role; DATABASE_URL is the app role)");
        return 2;
    }

    await DatabaseMigrator.MigrateAsync(owner, null, CancellationToken.None);
    await Console.Out.WriteLineAsync($"freeside: database is at migration {DatabaseMigrator.All()[^1]}");
    return 0;
}

if (args is ["discord", "register", ..])
{
    return await Freeside.Features.Discord.RegisterCommands.RunAsync(settings, Console.Out, Console.Error, CancellationToken.None);
}

if (!builder.Environment.IsDevelopment() && await DatabaseRoleGuard.RefusalAsync(settings.DatabaseConnectionString, CancellationToken.None) is { } refusal)
{
    await Console.Error.WriteLineAsync("freeside: configuration error: " + refusal);
    return 2;
}

builder.AddFreesideHosting(settings);
builder.Services.AddFreesideFeatures(settings, builder.Configuration);

var app = builder.Build();
await app.PrepareFreesideAsync(settings);
app.UseFreesidePipeline(settings);
await app.RunAsync();
// 2 when the service stopped itself over a setting (DatabaseRoleEnforcer), as at start-up.
return Environment.ExitCode;

public partial class Program;
