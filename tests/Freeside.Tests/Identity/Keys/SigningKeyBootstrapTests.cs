using System.Net;
using System.Net.Sockets;
using Freeside.Features.Identity.Keys;
using Freeside.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Freeside.Tests.Identity.Keys;

public sealed class SigningKeyBootstrapTests
{
    [Fact]
    public async Task Stop_WhileRetryingAnUnreachableDatabase_CanBeCalledTwice()
    {
        // A port nobody listens on: the bootstrap's first attempt fails at once and it starts retrying.
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Staging");
            builder.UseSetting("DATABASE_URL", $"postgres://freeside_app@127.0.0.1:{port}/freeside");
            builder.UseSetting("REDIS_URL", TestEnvironment.RedisUrl ?? "");
            builder.UseSetting("FREESIDE_ADMIN_TOKEN", FreesideApp.AdminToken);
            builder.UseSetting("FREESIDE_KEY_ENCRYPTION_KEY", Convert.ToBase64String(new byte[32]));
            builder.UseSetting("SIWE_DOMAINS", "localhost");
            builder.UseSetting("FREESIDE_JOBS_ENABLED", "false");
        });
        using var client = factory.CreateClient();
        var bootstrap = factory.Services.GetServices<IHostedService>().OfType<SigningKeyBootstrap>().Single();

        await bootstrap.StopAsync(CancellationToken.None);

        await Should.NotThrowAsync(() => bootstrap.StopAsync(CancellationToken.None));
    }
}
