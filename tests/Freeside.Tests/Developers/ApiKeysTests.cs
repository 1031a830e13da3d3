using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Freeside.Features.Developers;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Tests.Developers;

public sealed partial class ApiKeysTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private ApiKeyVerifier Verifier => app.Services.GetRequiredService<ApiKeyVerifier>();

    [GeneratedRegex("^lf_(live|test)_[A-Z2-7]{12}_[0-9A-Za-z]{32}$")]
    private static partial Regex KeyPattern();

    [Fact]
    public async Task CreateKey_Live_ShowsTheKeyOnceAndStoresOnlyItsHash()
    {
        var session = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());
        var response = await session.PostAsJsonAsync("/api/v1/developer/keys", new { name = "ci", mode = "live", requests_per_minute = 5, tokens_per_day = 777 });

        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        var key = created.GetProperty("key").GetString()!;
        var id = created.GetProperty("id").GetString()!;
        KeyPattern().IsMatch(key).ShouldBeTrue(key);
        key.ShouldStartWith("lf_live_" + id + "_");
        created.GetProperty("requests_per_minute").GetInt32().ShouldBe(5);
        created.GetProperty("tokens_per_day").GetInt32().ShouldBe(777);

        var listed = await session.GetStringAsync("/api/v1/developer/keys");
        listed.ShouldContain(id);
        listed.ShouldNotContain(key[^32..]);
        var stored = await app.Database.ScalarAsync<string>("SELECT encode(secret_hash, 'hex') || encode(salt, 'hex') || pepper_version FROM api_keys WHERE id = @id", ("id", id));
        stored!.ShouldNotContain(key[^32..]);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM credit_accounts WHERE kind = 'developer' AND developer_id = (SELECT developer_id FROM api_keys WHERE id = @id)", ("id", id))).ShouldBe(1);

        (await Verifier.VerifyAsync(key, default)).Check.ShouldBe(KeyCheck.Valid);
        (await Verifier.VerifyAsync(key[..^1] + (key[^1] == 'a' ? 'b' : 'a'), default)).Check.ShouldBe(KeyCheck.Mismatch);
        (await Verifier.VerifyAsync(key.Replace("lf_live_", "lf_test_", StringComparison.Ordinal), default)).Check.ShouldBe(KeyCheck.Mismatch);
    }

    [Fact]
    public async Task CreateKey_Test_GetsTheSandboxLimitsWhateverWasAsked()
    {
        var session = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());
        var response = await session.PostAsJsonAsync("/api/v1/developer/keys", new { name = "sandbox", mode = "test", requests_per_minute = 1000, tokens_per_day = 10_000_000 });

        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        created.GetProperty("key").GetString()!.ShouldStartWith("lf_test_");
        created.GetProperty("requests_per_minute").GetInt32().ShouldBe(10);
        created.GetProperty("tokens_per_day").GetInt32().ShouldBe(1000);
    }

    [Theory]
    [InlineData("{\"name\":\"x\",\"mode\":\"prod\"}", "mode")]
    [InlineData("{\"name\":\"\",\"mode\":\"live\"}", "name")]
    [InlineData("{\"name\":\"x\",\"mode\":\"live\",\"requests_per_minute\":0}", "requests_per_minute")]
    [InlineData("{\"name\":\"x\",\"mode\":\"live\",\"requests_per_minute\":1001}", "requests_per_minute")]
    [InlineData("{\"name\":\"x\",\"mode\":\"live\",\"tokens_per_day\":10000001}", "tokens_per_day")]
    public async Task CreateKey_BadInput_400NamingTheFieldAndNothingWritten(string body, string field)
    {
        var session = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());
        var before = await app.Database.ScalarAsync<long>("SELECT count(*) FROM api_keys");

        var response = await session.PostAsync("/api/v1/developer/keys", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue(problem.ToString());
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM api_keys")).ShouldBe(before);
    }

    [Fact]
    public async Task CreateKey_WithoutSession_401()
    {
        var response = await app.CreateClient().PostAsJsonAsync("/api/v1/developer/keys", new { name = "x", mode = "live" });
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task CreateKey_EleventhActive_409UntilOneIsDeleted()
    {
        var session = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());
        var ids = new List<string>();
        for (var i = 0; i < ApiKey.MaxActivePerDeveloper; i++)
        {
            ids.Add((await DeveloperKit.CreateKeyAsync(session, i % 2 == 0 ? "live" : "test")).Id);
        }

        var eleventh = await session.PostAsJsonAsync("/api/v1/developer/keys", new { name = "one too many", mode = "live" });
        eleventh.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await eleventh.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString()!.ShouldEndWith("too-many-api-keys");

        (await session.DeleteAsync($"/api/v1/developer/keys/{ids[0]}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await session.PostAsJsonAsync("/api/v1/developer/keys", new { name = "replacement", mode = "live" })).StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task CreateKey_ConcurrentRequests_NeverMoreThanTenActive()
    {
        var session = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());
        var responses = await Task.WhenAll(Enumerable.Range(0, 16).Select(i =>
            session.PostAsJsonAsync("/api/v1/developer/keys", new { name = $"race {i}", mode = "live" })));

        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(ApiKey.MaxActivePerDeveloper);
        responses.Count(r => r.StatusCode == HttpStatusCode.Conflict).ShouldBe(16 - ApiKey.MaxActivePerDeveloper);
    }

    [Fact]
    public async Task MalformedKeys_401WithoutADatabaseLookup()
    {
        var client = app.CreateClient();
        var lookups = Verifier.DatabaseLookups;
        string[] malformed =
        [
            "lf_live_ABCDEFGHJK23_0123456789abcdefghijABCDEFGHIJz",
            "lf_live_ABCDEFGHJK23_0123456789abcdefghijABCDEFGHIJzzz",
            "lf_live_abcdefghjk23_0123456789abcdefghijABCDEFGHIJzz",
            "lf_prod_ABCDEFGHJK23_0123456789abcdefghijABCDEFGHIJzz",
            "sk-proj-0123456789abcdefghijABCDEFGHIJzz0123456789abcdefghij",
            "lf_live_" + new string('A', 10 * 1024),
        ];
        foreach (var key in malformed)
        {
            var response = await client.WithKey(key).GetAsync("/v1/models");
            response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, key[..Math.Min(key.Length, 40)]);
            var error = await DeveloperKit.ErrorAsync(response);
            error.GetProperty("code").GetString().ShouldBe("invalid_api_key");
            error.GetProperty("type").GetString().ShouldBe("invalid_request_error");
        }

        var none = await app.CreateClient().GetAsync("/v1/models");
        none.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        Verifier.DatabaseLookups.ShouldBe(lookups);
    }

    [Fact]
    public async Task UnknownId_LookedUpOnceThenNegativelyCached()
    {
        var key = ApiKeyFormat.Format(ApiKeyFormat.NewId(), true, ApiKeyFormat.NewSecret());
        var lookups = Verifier.DatabaseLookups;

        for (var i = 0; i < 5; i++)
        {
            (await app.CreateClient().WithKey(key).GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }

        Verifier.DatabaseLookups.ShouldBe(lookups + 1);
    }

    [Fact]
    public async Task DeleteKey_NextRequest401AndAgainIsANoOp()
    {
        var session = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());
        var (id, key) = await DeveloperKit.CreateKeyAsync(session, "live");
        var client = app.CreateClient().WithKey(key);
        (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await session.DeleteAsync($"/api/v1/developer/keys/{id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        var refused = await client.GetAsync("/v1/models");
        refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await DeveloperKit.ErrorAsync(refused)).GetProperty("message").GetString()!.ShouldContain("deleted");
        (await session.DeleteAsync($"/api/v1/developer/keys/{id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        var listed = await session.GetFromJsonAsync<JsonElement>("/api/v1/developer/keys");
        listed.GetProperty("items")[0].GetProperty("status").GetString().ShouldBe("revoked");
    }

    [Fact]
    public async Task DeleteKey_AnotherDevelopersKey_404AndStillWorks()
    {
        var owner = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());
        var (id, key) = await DeveloperKit.CreateKeyAsync(owner, "live");
        var stranger = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());

        (await stranger.DeleteAsync($"/api/v1/developer/keys/{id}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await stranger.PostAsJsonAsync($"/api/v1/developer/keys/{id}/rotate", new { grace_seconds = 0 })).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await app.CreateClient().WithKey(key).GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task RotateKey_OldKeyWorksDuringGraceAndFailsAfter()
    {
        var session = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());
        var (id, oldKey) = await DeveloperKit.CreateKeyAsync(session, "live", new { requests_per_minute = 7 });

        var rotated = await session.PostAsJsonAsync($"/api/v1/developer/keys/{id}/rotate", new { grace_seconds = 2 });
        rotated.StatusCode.ShouldBe(HttpStatusCode.Created, await rotated.Content.ReadAsStringAsync());
        var body = await rotated.Content.ReadFromJsonAsync<JsonElement>();
        var newKey = body.GetProperty("key").GetProperty("key").GetString()!;
        body.GetProperty("key").GetProperty("requests_per_minute").GetInt32().ShouldBe(7);
        body.GetProperty("replaced_id").GetString().ShouldBe(id);

        (await app.CreateClient().WithKey(oldKey).GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await app.CreateClient().WithKey(newKey).GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var graceEnds = body.GetProperty("replaced_expires_at").GetDateTimeOffset();
        await Task.Delay(graceEnds - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(200));

        var refused = await app.CreateClient().WithKey(oldKey).GetAsync("/v1/models");
        refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await DeveloperKit.ErrorAsync(refused)).GetProperty("message").GetString()!.ShouldContain("grace");
        (await app.CreateClient().WithKey(newKey).GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await session.PostAsJsonAsync($"/api/v1/developer/keys/{id}/rotate", new { grace_seconds = 0 })).StatusCode.ShouldBe(HttpStatusCode.Conflict);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(86_401)]
    public async Task RotateKey_GraceOutOfRange_400(int grace)
    {
        var session = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());
        var (id, _) = await DeveloperKit.CreateKeyAsync(session, "live");

        var response = await session.PostAsJsonAsync($"/api/v1/developer/keys/{id}/rotate", new { grace_seconds = grace });

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM api_keys WHERE replaced_by IS NOT NULL AND id = @id", ("id", id))).ShouldBe(0);
    }

    [Fact]
    public async Task RotateKey_ZeroGrace_OldKeyRefusedAtOnce()
    {
        var session = await DeveloperKit.SessionAsync(app, DeveloperKit.NewWallet());
        var (id, oldKey) = await DeveloperKit.CreateKeyAsync(session, "test");
        (await app.CreateClient().WithKey(oldKey).GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await session.PostAsJsonAsync($"/api/v1/developer/keys/{id}/rotate", new { grace_seconds = 0 })).StatusCode.ShouldBe(HttpStatusCode.Created);

        (await app.CreateClient().WithKey(oldKey).GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }
}
