using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Developers;

internal static class DeveloperKit
{
    /// <summary>A wallet of its own per test: its own developer, keys, limits and credits.</summary>
    public static TestWallet NewWallet() => new("0x" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));

    public static async Task<HttpClient> SessionAsync(FreesideApp app, TestWallet wallet) =>
        app.CreateClient().WithBearer(await IdentityHttp.SessionTokenAsync(app, wallet));

    public static async Task<(string Id, string Key)> CreateKeyAsync(HttpClient session, string mode, object? extra = null, string name = "test key")
    {
        var body = new Dictionary<string, object?> { ["name"] = name, ["mode"] = mode };
        if (extra is not null)
        {
            foreach (var p in extra.GetType().GetProperties())
            {
                body[p.Name] = p.GetValue(extra);
            }
        }

        var response = await session.PostAsJsonAsync("/api/v1/developer/keys", body);
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (created.GetProperty("id").GetString()!, created.GetProperty("key").GetString()!);
    }

    public static HttpClient WithKey(this HttpClient client, string key)
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public static Task<HttpResponseMessage> CompleteAsync(HttpClient client, object body) => client.PostAsJsonAsync("/v1/chat/completions", body);

    public static async Task<JsonElement> ErrorAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("error");
    }
}
