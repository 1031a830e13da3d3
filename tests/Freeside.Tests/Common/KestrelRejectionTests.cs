using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Common;

/// <summary>The app on real Kestrel (the in-memory test server never parses HTTP), on ports of its own.</summary>
public sealed class KestrelApp : FreesideApp
{
    public int Port { get; } = FreePort();

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["FREESIDE_URLS"] = $"http://127.0.0.1:{Port}";
        settings["FREESIDE_MANAGEMENT_URLS"] = $"http://127.0.0.1:{FreePort()}";
        return settings;
    }

    protected override void Configure(Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> factory) => factory.UseKestrel();

    private static int FreePort() => TestPorts.Free();
}

/// <summary>Issue 8 item 2: Kestrel's own 400/414/431 answers carry a problem document like every other 4xx.</summary>
public sealed class KestrelRejectionTests(KestrelApp app) : IClassFixture<KestrelApp>
{
    private async Task<string> SendRawAsync(string request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, app.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var buffer = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await stream.CopyToAsync(buffer, timeout.Token);
        }
        catch (IOException)
        {
            // Kestrel may reset the connection after its answer; what arrived is the answer.
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void ShouldBeProblem(string response, int status, string slug)
    {
        response.ShouldStartWith($"HTTP/1.1 {status} ", customMessage: response);
        var split = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        response[..split].ShouldContain("Content-Type: application/problem+json", Case.Insensitive);
        var problem = JsonSerializer.Deserialize<JsonElement>(response[(split + 4)..]);
        problem.GetProperty("type").GetString().ShouldBe("https://freeside.dev/problems/" + slug);
        problem.GetProperty("status").GetInt32().ShouldBe(status);
        problem.GetProperty("detail").GetString().ShouldNotBeNullOrEmpty();
    }

    [Theory]
    [InlineData("GET /api/v1/communities/a%00b HTTP/1.1\r\nHost: localhost\r\n\r\n")]
    [InlineData("HELLO\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n")]
    public async Task MalformedHttp_KestrelRefuses_WithAProblemDocument(string request)
    {
        ShouldBeProblem(await SendRawAsync(request), 400, "malformed-request");
    }

    [Fact]
    public async Task RequestLineTooLong_Is414Problem()
    {
        ShouldBeProblem(await SendRawAsync($"GET /api/v1/communities/{new string('a', 10_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n"), 414, "uri-too-long");
    }

    [Fact]
    public async Task HeadersTooLarge_Is431Problem()
    {
        ShouldBeProblem(await SendRawAsync($"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: {new string('a', 40_000)}\r\n\r\n"), 431, "headers-too-large");
    }

    [Fact]
    public async Task PipelinedValidRequests_PassThroughUnchanged()
    {
        var response = await SendRawAsync(
            "GET /api/v1/no-such-thing HTTP/1.1\r\nHost: localhost\r\n\r\nGET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");

        response.ShouldStartWith("HTTP/1.1 404 ", customMessage: response);
        response.ShouldContain("https://freeside.dev/problems/not-found");
        response.ShouldContain("HTTP/1.1 200 ");
        response.ShouldContain("\"contract_version\"");
    }

    [Fact]
    public async Task Writer_AfterEachFlush_HoldsNoBufferAndStillRewritesARejection()
    {
        var pipe = new System.IO.Pipelines.Pipe(new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: 0)); // no back-pressure: read after writing
        var writer = new Freeside.Web.KestrelRejections.RewritingWriter(pipe.Writer);
        var body = Enumerable.Range(0, 100_000).Select(i => (byte)('a' + (i % 26))).ToArray();

        // A response larger than the first rented buffer, then a bare rejection on the same connection.
        writer.Write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"u8);
        writer.Write(body);
        writer.HoldsBuffer.ShouldBeTrue();
        await writer.FlushAsync();
        writer.HoldsBuffer.ShouldBeFalse();
        writer.Write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8);
        await writer.FlushAsync();
        writer.HoldsBuffer.ShouldBeFalse();
        await writer.CompleteAsync();

        using var received = new MemoryStream();
        await pipe.Reader.CopyToAsync(received);
        var text = Encoding.ASCII.GetString(received.ToArray());
        text.ShouldStartWith("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + Encoding.ASCII.GetString(body) + "HTTP/1.1 400 ");
        ShouldBeProblem(text[text.IndexOf("HTTP/1.1 400 ", StringComparison.Ordinal)..], 400, "malformed-request");
    }
}
