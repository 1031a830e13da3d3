using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Features.Common.Ethereum;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Identity;

/// <summary>A wallet with a known key that builds and signs EIP-4361 messages the way a browser wallet would.</summary>
public sealed class TestWallet(string privateKeyHex)
{
    public static readonly TestWallet Deployer = new("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
    public static readonly TestWallet Demo = new("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
    public static readonly TestWallet Third = new("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");

    private readonly byte[] _key = Convert.FromHexString(privateKeyHex[2..]);

    public string PrivateKey { get; } = privateKeyHex;

    public EthereumAddress Address => PersonalSign.PrivateKeyToAddress(_key);

    public string Message(
        string nonce,
        string domain = "localhost",
        string? uri = null,
        long chainId = 31337,
        DateTimeOffset? issuedAt = null,
        DateTimeOffset? expiresAt = null,
        string? address = null) =>
        $"{domain} wants you to sign in with your Ethereum account:\n"
        + $"{address ?? Address.ToChecksumString()}\n\n"
        + "Sign in to Freeside\n\n"
        + $"URI: {uri ?? "http://" + domain}\n"
        + "Version: 1\n"
        + $"Chain ID: {chainId}\n"
        + $"Nonce: {nonce}\n"
        + $"Issued At: {SiweMessage.FormatTimestamp(issuedAt ?? DateTimeOffset.UtcNow)}"
        + (expiresAt is { } e ? $"\nExpiration Time: {SiweMessage.FormatTimestamp(e)}" : "");

    public string Sign(string message) => "0x" + Convert.ToHexStringLower(PersonalSign.Sign(PersonalSign.HashMessage(message), _key));
}

internal static class IdentityHttp
{
    public static async Task<string> NonceAsync(HttpClient client)
    {
        var body = await client.GetFromJsonAsync<JsonElement>("/api/v1/auth/nonce");
        return body.GetProperty("nonce").GetString()!;
    }

    public static Task<HttpResponseMessage> SignInAsync(HttpClient client, string message, string signature) =>
        client.PostAsJsonAsync("/api/v1/auth/siwe", new { message, signature });

    /// <summary>A full sign-in: nonce, message, signature; the session token.</summary>
    public static async Task<string> SessionTokenAsync(FreesideApp app, TestWallet wallet)
    {
        var client = app.CreateClient();
        var message = wallet.Message(await NonceAsync(client));
        var response = await SignInAsync(client, message, wallet.Sign(message));
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    public static HttpClient WithBearer(this HttpClient client, string token)
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public static async Task<string> ProblemTypeAsync(HttpResponseMessage response)
    {
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        return problem.GetProperty("type").GetString()!.Replace("https://freeside.dev/problems/", "", StringComparison.Ordinal);
    }
}
