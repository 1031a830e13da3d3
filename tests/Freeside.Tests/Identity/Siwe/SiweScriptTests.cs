using System.Diagnostics;
using System.Text.Json;
using Freeside.Features.Common.Ethereum;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Identity.Siwe;

/// <summary>
/// The browser's half of sign-in (src/Features/Identity/Siwe/siwe.js), run under node: its Keccak-256
/// and EIP-55 against the repository's vectors, and its EIP-4361 messages through the server's parser.
/// </summary>
public sealed class SiweScriptTests
{
    private static readonly string Script = Path.Combine(TestEnvironment.RepositoryRoot, "src", "Features", "Identity", "Siwe", "siwe.js");

    private static async Task<JsonElement> RunAsync(string program)
    {
        var start = new ProcessStartInfo("node") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var node = Process.Start(start)!;
        await node.StandardInput.WriteAsync($"const s = require({JsonSerializer.Serialize(Script)});\n" + program);
        node.StandardInput.Close();
        var output = await node.StandardOutput.ReadToEndAsync();
        var error = await node.StandardError.ReadToEndAsync();
        await node.WaitForExitAsync();
        node.ExitCode.ShouldBe(0, error);
        return JsonDocument.Parse(output).RootElement;
    }

    [Fact]
    public async Task Keccak256_MatchesEveryVector()
    {
        var vectors = Path.Combine(AppContext.BaseDirectory, "Vectors", "keccak256.json");
        var result = await RunAsync($$"""
            const file = require({{JsonSerializer.Serialize(vectors)}});
            const cases = Object.values(file).find(Array.isArray);
            const wrong = cases.filter(c => {
              const data = c.data.startsWith('0x') ? Buffer.from(c.data.slice(2), 'hex') : Buffer.from(c.data);
              return '0x' + Buffer.from(s.keccak256(new Uint8Array(data))).toString('hex') !== c.keccak256;
            }).map(c => c.name);
            console.log(JSON.stringify({ count: cases.length, wrong }));
            """);

        result.GetProperty("count").GetInt32().ShouldBeGreaterThan(100);
        result.GetProperty("wrong").GetArrayLength().ShouldBe(0, result.GetProperty("wrong").ToString());
    }

    [Theory]
    [InlineData("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]
    [InlineData("0xFB6916095CA1DF60BB79CE92CE3EA74C37C5D359", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359")]
    [InlineData("0x70997970c51812dc3a010c7d01b50e0d17dc79c8", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")]
    public async Task ChecksumAddress_ProducesEip55(string input, string expected)
    {
        var result = await RunAsync($"console.log(JSON.stringify(s.checksumAddress({JsonSerializer.Serialize(input)})));");

        result.GetString().ShouldBe(expected);
    }

    [Fact]
    public async Task BuildMessage_FromALowerCaseWalletAddress_ParsesOnTheServerWithEveryField()
    {
        var result = await RunAsync("""
            console.log(JSON.stringify(s.buildMessage({
              domain: 'localhost:8080', address: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8',
              statement: 'Link my Telegram account to this wallet on Freeside.', uri: 'http://localhost:8080/link/abc',
              chainId: 31337, nonce: '0123456789abcdef0123456789abcdef', issuedAt: '2026-11-24T10:00:00.000Z',
              expirationTime: '2026-11-24T10:10:00.000Z', requestId: 'abc-_123'
            })));
            """);

        SiweMessage.TryParse(result.GetString()!, out var message, out var error, out _).ShouldBeTrue(error);
        message.ParsedAddress.ToChecksumString().ShouldBe("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        message.Domain.ShouldBe("localhost:8080");
        message.RequestId.ShouldBe("abc-_123");
        message.ChainId.ShouldBe(31337);
        message.Statement.ShouldBe("Link my Telegram account to this wallet on Freeside.");
    }
}
