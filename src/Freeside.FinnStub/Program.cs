using System.Text.Json;
using System.Text.Json.Serialization;
using Freeside.FinnStub;

var builder = WebApplication.CreateBuilder(args);
var settings = StubSettings.Load(builder.Configuration, out var error);
if (error is not null)
{
    await Console.Error.WriteLineAsync("finn-stub: configuration error: " + error);
    return 2;
}

builder.Logging.ClearProviders();
builder.Logging.AddJsonConsole();
builder.WebHost.UseUrls(builder.Configuration["FINN_STUB_URLS"] ?? "http://127.0.0.1:5100");
builder.Services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
    o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
});
builder.Services.AddSingleton(settings);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddHttpClient("jwks", c => c.Timeout = TimeSpan.FromSeconds(5));
builder.Services.AddSingleton<JwksCache>();
builder.Services.AddSingleton<S2SAuth>();
builder.Services.AddSingleton<RequestLog>();

var app = builder.Build();
app.MapFinnEndpoints();
await app.RunAsync();
return 0;

public partial class Program;
