using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;
using Npgsql;
using Xunit.Abstractions;

namespace Freeside.Tests.Common;

/// <summary>
/// Issue 8 item 3: a seeded, deterministic fuzz over every operation of the OpenAPI document (read
/// from the running app, so a new route is covered without touching this test). Each request is
/// malformed in exactly one way that no valid request has, sent with each kind of credentials;
/// none may answer 5xx, and no table may change.
/// </summary>
public sealed class FuzzTests(FreesideApp app, ITestOutputHelper output) : IClassFixture<FreesideApp>
{
    private const int Seed = 8;
    private const int MinimumRequests = 2_000;
    private const string Community = "fuzz";

    /// <summary>
    /// Tables a request may legitimately write whatever its input: GET /auth/nonce takes no input
    /// and stores the nonce it issues (that is its job, and no input can make it malformed).
    /// </summary>
    private static readonly HashSet<string> WrittenByInputlessRequests = ["siwe_nonces"];

    /// <summary>Never valid for any field: control characters, a lone surrogate, far too long.</summary>
    private static readonly string[] BadStrings = ["a\u0000b", "\u0001", "line\nbreak", "tab\there", "\u001b[31m", "x\ud800y", new string('9', 5000)];

    /// <summary>Never valid where the schema says integer: JSON strings, fractions, overflow, other types.</summary>
    private static readonly string[] BadIntegers = ["\"1\"", "1.5", "1e400", "99999999999999999999999", "true", "{}", "[]", "\"\\u0000\""];

    private const string Placeholder = "__fuzz_value__";

    private static readonly string[] BadQueryIntegers = ["abc", "1.5", "99999999999999999999", "0x10", "%00", "\u0001", ""];

    /// <summary>Whole bodies that are not a usable JSON object.</summary>
    private static readonly string[] BadBodies =
    [
        "", "null", "[]", "7", "\"text\"", "{", "{\"a\":", "{\"a\" 1}", "{'a':1}", "{\"a\":1,}", "\u0000",
        "{\"x\":" + new string('[', 200) + new string(']', 200) + "}",
    ];

    [Fact]
    public async Task EveryOperation_MalformedRequests_NeverAnswer5xxAndWriteNothing()
    {
        var admin = app.CreateAdminClient();
        (await admin.PostAsJsonAsync("/api/v1/admin/communities", new
        {
            slug = Community, name = "Fuzz", chain_id = 1, collection_address = "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d", default_access_level = "free",
        })).EnsureSuccessStatusCode();
        (await admin.PostAsJsonAsync($"/api/v1/admin/communities/{Community}/admins", new { address = TestWallet.Demo.Address.ToChecksumString() }))
            .EnsureSuccessStatusCode();
        (await admin.PostAsJsonAsync($"/api/v1/admin/communities/{Community}/grants", new { amount_micro = 5, reason = "fuzz", idempotency_key = "fuzz" }))
            .EnsureSuccessStatusCode();
        var session = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        var operations = await OperationsAsync(admin);
        operations.Count.ShouldBeGreaterThan(10, "the OpenAPI document lists the routes");

        var random = new Random(Seed);
        var requests = new List<FuzzRequest>();
        foreach (var operation in operations)
        {
            requests.AddRange(Malformed(operation, random, session));
        }

        while (requests.Count < MinimumRequests)
        {
            var operation = operations[random.Next(operations.Count)];
            var variants = Malformed(operation, random, session);
            requests.Add(variants[random.Next(variants.Count)]);
        }

        var before = await ChecksumsAsync();
        var clock = Stopwatch.StartNew();
        var failures = new List<string>();
        var client = app.CreateClient();
        foreach (var request in requests)
        {
            using var message = request.ToMessage();
            using var response = await client.SendAsync(message);
            if ((int)response.StatusCode >= 500 || (request.Method != "GET" && response.IsSuccessStatusCode))
            {
                failures.Add($"{(int)response.StatusCode} {request} → {await response.Content.ReadAsStringAsync()}");
            }
        }

        output.WriteLine($"{requests.Count} requests over {operations.Count} operations in {clock.Elapsed.TotalSeconds:0.0} s");
        failures.ShouldBeEmpty();
        var after = await ChecksumsAsync();
        after.Where(t => before[t.Key] != t.Value).Select(t => t.Key).ShouldBeEmpty("tables written by malformed requests");
    }

    private sealed record Operation(string Method, string Path, IReadOnlyList<Parameter> Parameters, JsonObject? Body)
    {
        public bool HasInput => Parameters.Count > 0 || Body is not null;
    }

    private sealed record Parameter(string Name, string In, string Type);

    private sealed record FuzzRequest(string Method, string Url, string? Authorization, string? Body, string? ContentType, byte[]? RawBody = null)
    {
        public HttpRequestMessage ToMessage()
        {
            var message = new HttpRequestMessage(new HttpMethod(Method), Url);
            if (Authorization is not null)
            {
                message.Headers.TryAddWithoutValidation("Authorization", Authorization);
            }

            if (RawBody is not null || Body is not null)
            {
                message.Content = new ByteArrayContent(RawBody ?? Encoding.UTF8.GetBytes(Body!));
                if (ContentType is not null)
                {
                    message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(ContentType);
                }
            }

            return message;
        }

        public override string ToString() =>
            $"{Method} {Url} auth={Authorization?[..Math.Min(Authorization.Length, 20)]} type={ContentType} body={(Body is null ? RawBody is null ? "-" : "raw" : Body.Length > 200 ? Body[..200] + "…" : Body)}";
    }

    /// <summary>Every malformed variant of one operation, with each kind of credentials.</summary>
    private static List<FuzzRequest> Malformed(Operation operation, Random random, string session)
    {
        string?[] goodAuth = ["Bearer " + FreesideApp.AdminToken, "Bearer " + session, null];
        string[] badAuth = ["Bearer garbage", "Basic " + Convert.ToBase64String("a:b"u8.ToArray()), "Bearer " + session[..^4] + "AAAA", "Bearer " + new string('x', 5000)];
        var requests = new List<FuzzRequest>();

        // Valid input, refused credentials: never a write. Input-less operations only get these,
        // since with good credentials any request to them is a valid one.
        foreach (var auth in badAuth)
        {
            requests.Add(Build(operation, auth, ValidPath(operation), ValidQuery(operation), ValidBody(operation, random)?.ToJsonString()));
        }

        if (!operation.HasInput)
        {
            return requests;
        }

        foreach (var auth in goodAuth)
        {
            foreach (var parameter in operation.Parameters)
            {
                foreach (var bad in parameter.Type == "integer" ? BadQueryIntegers : BadStrings.Where(b => !b.Any(char.IsSurrogate)))
                {
                    if (parameter.In == "path" && bad.Contains('\u0000', StringComparison.Ordinal))
                    {
                        continue; // the in-memory test server refuses to send a NUL in a path (Kestrel's own 400)
                    }

                    var path = ValidPath(operation);
                    var query = ValidQuery(operation);
                    if (parameter.In == "path")
                    {
                        path = ValidPath(operation with { Path = operation.Path.Replace("{" + parameter.Name + "}", Uri.EscapeDataString(bad), StringComparison.Ordinal) });
                    }
                    else
                    {
                        query = query.Where(q => q.Name != parameter.Name).Append((parameter.Name, bad)).ToList();
                    }

                    requests.Add(Build(operation, auth, path, query, ValidBody(operation, random)?.ToJsonString()));
                }
            }

            if (operation.Body is null)
            {
                continue;
            }

            foreach (var body in BadBodies)
            {
                requests.Add(Build(operation, auth, ValidPath(operation), ValidQuery(operation), body));
            }

            var valid = ValidBody(operation, random)!.ToJsonString();
            requests.Add(Build(operation, auth, ValidPath(operation), ValidQuery(operation), valid) with { ContentType = "text/plain" });
            requests.Add(Build(operation, auth, ValidPath(operation), ValidQuery(operation), valid) with { ContentType = null });
            requests.Add(Build(operation, auth, ValidPath(operation), ValidQuery(operation), null) with { RawBody = [(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}'] });
            foreach (var (name, schema) in operation.Body)
            {
                var type = TypeOf(schema);
                // An empty array is a valid list (e.g. no allowed origins); an array field gets bad elements instead.
                foreach (var bad in type is "integer" or "number" ? BadIntegers
                    : type is "array" ? [.. BadStrings.Select(b => "[" + Literal(b) + "]"), "12345", "true", "{}", "\"text\""]
                    : [.. BadStrings.Select(Literal), "12345", "true", "{}", "[]"])
                {
                    // Spliced in as text: a JSON writer would replace a lone surrogate and so repair the input.
                    var mutated = ValidBody(operation, random)!;
                    mutated[name] = Placeholder;
                    requests.Add(Build(operation, auth, ValidPath(operation), ValidQuery(operation),
                        mutated.ToJsonString().Replace(JsonSerializer.Serialize(Placeholder), bad, StringComparison.Ordinal)));
                }

                // The same key twice with the same, valid value: only the duplicate is wrong.
                var text = ValidBody(operation, random)!.ToJsonString();
                var pair = $"\"{name}\":{ValidValue(name, schema, random)!.ToJsonString()}";
                requests.Add(Build(operation, auth, ValidPath(operation), ValidQuery(operation), "{" + pair + "," + text[1..]));
            }
        }

        return requests;
    }

    /// <summary>A JSON string literal that escapes every control character and surrogate as \\uXXXX.</summary>
    private static string Literal(string value) =>
        "\"" + string.Concat(value.Select(c => c < ' ' || char.IsSurrogate(c) || c is '"' or '\\' ? $"\\u{(int)c:X4}" : c.ToString())) + "\"";

    private static FuzzRequest Build(Operation operation, string? auth, string path, IEnumerable<(string Name, string Value)> query, string? body)
    {
        var queryString = string.Join("&", query.Select(q => Uri.EscapeDataString(q.Name) + "=" + Uri.EscapeDataString(q.Value)));
        return new FuzzRequest(operation.Method, path + (queryString.Length > 0 ? "?" + queryString : ""), auth, body,
            body is null ? null : "application/json");
    }

    private static string ValidPath(Operation operation) =>
        operation.Parameters.Where(p => p.In == "path").Aggregate(operation.Path, (path, p) => path.Replace("{" + p.Name + "}", Community, StringComparison.Ordinal));

    private static List<(string Name, string Value)> ValidQuery(Operation operation) =>
        [.. operation.Parameters.Where(p => p.In == "query").Select(p => (p.Name, p.Type == "integer" ? "10" : p.Name == "community" ? Community : p.Name == "token_id" ? "1" : "x"))
            .Where(p => p.Name != "cursor")];

    private static JsonObject? ValidBody(Operation operation, Random random)
    {
        if (operation.Body is null)
        {
            return null;
        }

        var body = new JsonObject();
        foreach (var (name, schema) in operation.Body)
        {
            body[name] = ValidValue(name, schema, random);
        }

        return body;
    }

    /// <summary>A plausible valid value, so that the one mutated field is what gets refused.</summary>
    private static JsonNode? ValidValue(string name, JsonNode? schema, Random random)
    {
        var type = TypeOf(schema);
        var format = schema?["format"]?.GetValue<string>();
        if (schema?["enum"] is JsonArray values && values.Count > 0)
        {
            return values[0]?.DeepClone();
        }

        return (type, format, name) switch
        {
            ("integer" or "number", _, _) => JsonValue.Create(1 + random.Next(1000)),
            ("boolean", _, _) => JsonValue.Create(false),
            (_, "uuid", _) => JsonValue.Create(new Guid([.. Enumerable.Range(0, 16).Select(_ => (byte)random.Next(256))]).ToString()),
            (_, "date-time", _) => JsonValue.Create("2099-01-01T00:00:00Z"),
            (_, _, var n) when n.Contains("address", StringComparison.Ordinal) => JsonValue.Create(TestWallet.Third.Address.ToChecksumString()),
            (_, _, "slug") => JsonValue.Create("fuzz-" + random.Next(1_000_000)),
            (_, _, "default_access_level") => JsonValue.Create("free"),
            _ => JsonValue.Create("fuzz-" + random.Next(1_000_000)),
        };
    }

    private static string TypeOf(JsonNode? schema) => schema?["type"] switch
    {
        JsonArray types => types.Select(t => t!.GetValue<string>()).FirstOrDefault(t => t != "null") ?? "string",
        JsonValue value => value.GetValue<string>(),
        _ => "object",
    };

    private async Task<List<Operation>> OperationsAsync(HttpClient client)
    {
        var document = JsonNode.Parse(await client.GetStringAsync("/openapi/v1.json"))!;
        var schemas = document["components"]?["schemas"]?.AsObject();
        var operations = new List<Operation>();
        foreach (var (path, item) in document["paths"]!.AsObject().OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            foreach (var (method, definition) in item!.AsObject().OrderBy(m => m.Key, StringComparer.Ordinal))
            {
                var parameters = (definition!["parameters"] as JsonArray ?? [])
                    .Select(p => new Parameter(p!["name"]!.GetValue<string>(), p["in"]!.GetValue<string>(),
                        TypeOf(p["schema"]) is "array" ? TypeOf(p["schema"]!["items"]) : TypeOf(p["schema"])))
                    .Where(p => p.In is "path" or "query")
                    .ToList();
                JsonObject? body = null;
                if (definition["requestBody"]?["content"]?["application/json"]?["schema"] is { } schema)
                {
                    var resolved = schema["$ref"] is { } reference ? schemas?[reference.GetValue<string>().Split('/')[^1]] : schema;
                    body = resolved?["properties"]?.DeepClone().AsObject() ?? [];
                }

                operations.Add(new Operation(method.ToUpperInvariant(), path, parameters, body));
            }
        }

        return operations;
    }

    /// <summary>A digest of every table's rows (as the owner, so row-level security hides nothing).</summary>
    private async Task<Dictionary<string, string>> ChecksumsAsync()
    {
        await using var connection = new NpgsqlConnection(app.Database.OwnerConnectionString);
        await connection.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", connection))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }

        tables.Count.ShouldBeGreaterThan(5);
        var sums = new Dictionary<string, string>();
        foreach (var table in tables.Where(t => !WrittenByInputlessRequests.Contains(t)))
        {
            await using var sum = new NpgsqlCommand($"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM \"{table}\" t", connection);
            sums[table] = (string)(await sum.ExecuteScalarAsync())!;
        }

        return sums;
    }
}
