using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Freeside.FinnStub;

public static class FinnEndpoints
{
    private static readonly string[] Lorem =
        "the quiet signal drifts across warm circuits while patient agents listen closely and answer with care and rhythm".Split(' ');

    private static readonly HashSet<string> Roles = ["system", "user", "assistant"];

    public static void MapFinnEndpoints(this WebApplication app)
    {
        app.MapGet("/v1/health", async (JwksCache jwks, CancellationToken ct) =>
        {
            if (!jwks.IsLoaded)
            {
                await jwks.RefreshAsync(force: false, ct);
            }

            return jwks.IsLoaded
                ? Results.Json(new { status = "ok", contract_version = S2SAuth.ContractVersion })
                : Results.Json(new { status = "waiting_for_jwks", contract_version = S2SAuth.ContractVersion }, statusCode: 503);
        });

        app.MapGet("/v1/agents/personality", async (HttpContext http, S2SAuth auth, CancellationToken ct) =>
        {
            var (claims, failure) = await auth.VerifyAsync(http.Request, [], ct);
            if (failure is not null)
            {
                return Fail(failure);
            }

            var nftId = http.Request.Query["nft_id"].ToString();
            return nftId.Length == 0
                ? Fail(new S2SFailure(400, "INVALID_REQUEST", "nft_id is required."))
                : Results.Json(Personality.For(nftId).PublicView());
        });

        app.MapPost("/v1/agents/invoke", (HttpContext http, S2SAuth auth, StubSettings settings, RequestLog log, CancellationToken ct) =>
            HandleAsync(http, auth, settings, log, stream: false, ct));
        app.MapPost("/v1/agents/stream", (HttpContext http, S2SAuth auth, StubSettings settings, RequestLog log, CancellationToken ct) =>
            HandleAsync(http, auth, settings, log, stream: true, ct));

        // Not finn's contract: an unauthenticated OpenAI-style stream of the same tokens and delay, the upstream that
        // ./build.sh bench api puts behind Portkey's gateway so both sides of the comparison call the same thing.
        app.MapPost("/v1/chat/completions", (HttpContext http, StubSettings settings, CancellationToken ct) => OpenAiStreamAsync(http, settings, ct));

        app.MapGet("/_stub/requests", (StubSettings settings, RequestLog log) =>
            settings.Faults ? Results.Json(log.Entries) : Results.NotFound());
    }

    private static async Task<IResult> HandleAsync(HttpContext http, S2SAuth auth, StubSettings settings, RequestLog log, bool stream, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, ct);
        var body = buffer.ToArray();
        var (claims, failure) = await auth.VerifyAsync(http.Request, body, ct);
        if (failure is not null)
        {
            return Fail(failure);
        }

        var fault = settings.Faults ? http.Request.Headers["X-Finn-Fault"].ToString() : "";
        log.Add(http.Request.Path, fault.Length > 0 ? fault : null, claims!);

        if (!TryReadBody(body, out var promptTokens, out var maxTokens, out var problem))
        {
            return Fail(new S2SFailure(400, "INVALID_REQUEST", problem!));
        }

        var allowed = Pools.AllowedFor(claims!.Tier);
        if (allowed is null)
        {
            return Fail(new S2SFailure(403, "POOL_ACCESS_DENIED", $"Unknown tier '{claims.Tier}'."));
        }

        var personality = Personality.For(claims.NftId ?? claims.Subject);
        string poolId;
        if (claims.PoolId is { Length: > 0 } requested)
        {
            if (!Pools.All.ContainsKey(requested))
            {
                return Fail(new S2SFailure(403, "UNKNOWN_POOL", $"No pool '{requested}'."));
            }

            if (!allowed.Contains(requested))
            {
                return Fail(new S2SFailure(403, "POOL_ACCESS_DENIED", $"Tier '{claims.Tier}' may not use pool '{requested}'."));
            }

            poolId = requested;
        }
        else
        {
            poolId = personality.PickPool(allowed);
        }

        // "http-then-ok:<status>:<n>": the first n attempts of one reservation fail, later ones (new jti, same
        // reservation) succeed, so a client's retry can be observed end to end.
        if (fault.StartsWith("http-then-ok:", StringComparison.Ordinal))
        {
            var parts = fault.Split(':');
            if (parts.Length == 3 && int.TryParse(parts[1], out var failStatus) && int.TryParse(parts[2], out var failures)
                && log.CountAttempt(claims.ReservationId) <= failures)
            {
                return Results.Json(new { error = "Fault injected by the stand-in.", code = "PROVIDER_UNAVAILABLE" }, statusCode: failStatus);
            }
        }

        if (fault.StartsWith("http:", StringComparison.Ordinal) && int.TryParse(fault[5..], out var status))
        {
            return status == 429
                ? Results.Json(new { error = "Rate limited by the stand-in.", code = "RATE_LIMITED" }, statusCode: 429, contentType: null)
                    .WithRetryAfter(http)
                : Results.Json(new { error = "Fault injected by the stand-in.", code = status >= 500 ? "PROVIDER_UNAVAILABLE" : "INVALID_REQUEST" }, statusCode: status);
        }

        if (!Ensemble.TryRead(claims, out var ensemble, out var ensembleProblem))
        {
            return Fail(ensembleProblem!);
        }

        var pool = Pools.All[poolId];
        var traceId = Guid.NewGuid().ToString("N");
        var completion = Math.Min(settings.Tokens, maxTokens ?? int.MaxValue);
        var words = Enumerable.Range(0, completion).Select(i => Lorem[i % Lorem.Length]).ToArray();
        var cost = Pools.Cost(pool, promptTokens, completion);
        var run = Ensemble.Run(ensemble, fault);
        // An ensemble's usage and cost are the sum over its calls that answered; a failed call costs nothing.
        var calls = run.Succeeded;
        var headers = http.Response.Headers;
        headers["X-Pool-Used"] = poolId;
        headers["X-Personality-Id"] = personality.Id;
        headers["X-Model-Used"] = pool.Model;
        // "version:<x.y.z>" plays a finn of another contract version, for the client's refusal.
        var version = fault.StartsWith("version:", StringComparison.Ordinal) ? fault["version:".Length..] : S2SAuth.ContractVersion;
        headers["X-Contract-Version"] = version;
        headers["X-Trace-Id"] = traceId;

        if (fault.StartsWith("delay-first-byte:", StringComparison.Ordinal) && int.TryParse(fault["delay-first-byte:".Length..], out var delay))
        {
            await Task.Delay(delay, ct);
        }

        if (!stream)
        {
            if (!run.Answered)
            {
                return Results.Json(new { error = run.Failure, code = "PROVIDER_UNAVAILABLE" }, statusCode: 503);
            }

            return Results.Json(new
            {
                id = "inv_" + traceId[..16],
                model = pool.Model,
                pool_id = poolId,
                content = string.Join(' ', words),
                usage = new { prompt_tokens = promptTokens * calls, completion_tokens = (long)completion * calls },
                cost_micro = (cost * calls).ToString(CultureInfo.InvariantCulture),
                contract_version = S2SAuth.ContractVersion,
            });
        }

        await StreamAsync(http, settings, fault, pool, personality, traceId, version, words, promptTokens, cost, run, ct);
        return Results.Empty;
    }

    private static async Task StreamAsync(HttpContext http, StubSettings settings, string fault, Pools.Pool pool, Personality personality,
        string traceId, string version, string[] words, long promptTokens, long cost, Ensemble.Outcome run, CancellationToken ct)
    {
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var sequence = 0;
        async Task SendAsync(string name, object data)
        {
            var payload = $"id: {sequence++}\nevent: {name}\ndata: {JsonSerializer.Serialize(data)}\n\n";
            await http.Response.WriteAsync(payload, Encoding.UTF8, ct);
            await http.Response.Body.FlushAsync(ct);
        }

        int? abortAfter = fault.StartsWith("abort-after:", StringComparison.Ordinal) ? int.Parse(fault["abort-after:".Length..], CultureInfo.InvariantCulture) : null;
        int? errorAfter = fault.StartsWith("error-event-after:", StringComparison.Ordinal) ? int.Parse(fault["error-event-after:".Length..], CultureInfo.InvariantCulture) : null;

        await SendAsync("stream_start", new { model = pool.Model, pool_id = pool.Id, personality_id = personality.Id, trace_id = traceId, contract_version = version });
        if (!run.Answered)
        {
            await SendAsync("error", new { code = "PROVIDER_UNAVAILABLE", message = run.Failure, retryable = true });
            return;
        }

        for (var i = 0; i < words.Length; i++)
        {
            if (abortAfter == i)
            {
                http.Abort();
                return;
            }

            if (errorAfter == i)
            {
                await SendAsync("error", new { code = "PROVIDER_UNAVAILABLE", message = "Upstream failed mid-stream (injected).", retryable = true });
                return;
            }

            if (settings.TokenDelayMs > 0)
            {
                await Task.Delay(settings.TokenDelayMs, ct);
            }

            await SendAsync("chunk", new { delta = (i == 0 ? "" : " ") + words[i] });
        }

        if (fault != "no-usage")
        {
            await SendAsync("usage", new { prompt_tokens = promptTokens * run.Succeeded, completion_tokens = (long)words.Length * run.Succeeded });
            await SendAsync("stream_end", new { finish_reason = "stop", billing_method = "provider_reported",
                cost_micro = (cost * run.Succeeded).ToString(CultureInfo.InvariantCulture) });
        }
    }

    private static async Task OpenAiStreamAsync(HttpContext http, StubSettings settings, CancellationToken ct)
    {
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        async Task SendAsync(object delta, string? finish)
        {
            var chunk = new { id, @object = "chat.completion.chunk", created, model = "qwen-7b", choices = new[] { new { index = 0, delta, finish_reason = finish } } };
            await http.Response.WriteAsync("data: " + JsonSerializer.Serialize(chunk) + "\n\n", Encoding.UTF8, ct);
            await http.Response.Body.FlushAsync(ct);
        }

        await SendAsync(new { role = "assistant", content = "" }, null);
        for (var i = 0; i < settings.Tokens; i++)
        {
            if (settings.TokenDelayMs > 0)
            {
                await Task.Delay(settings.TokenDelayMs, ct);
            }

            await SendAsync(new { content = (i == 0 ? "" : " ") + Lorem[i % Lorem.Length] }, null);
        }

        await SendAsync(new { }, "stop");
        await http.Response.WriteAsync("data: [DONE]\n\n", Encoding.UTF8, ct);
    }

    private static bool TryReadBody(byte[] body, out long promptTokens, out int? maxTokens, out string? problem)
    {
        promptTokens = 0;
        maxTokens = null;
        problem = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("messages", out var messages)
                || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            {
                problem = "messages must be a non-empty array.";
                return false;
            }

            long characters = 0;
            foreach (var message in messages.EnumerateArray())
            {
                if (message.ValueKind != JsonValueKind.Object
                    || !message.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String || !Roles.Contains(role.GetString()!)
                    || !message.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                {
                    problem = "each message needs role system|user|assistant and string content.";
                    return false;
                }

                characters += content.GetString()!.Length;
            }

            if (root.TryGetProperty("max_tokens", out var max))
            {
                if (max.ValueKind != JsonValueKind.Number || !max.TryGetInt32(out var value) || value < 1)
                {
                    problem = "max_tokens must be a positive integer.";
                    return false;
                }

                maxTokens = value;
            }

            // Roughly four characters a token, at least one.
            promptTokens = Math.Max(1, (characters + 3) / 4);
            return true;
        }
        catch (JsonException)
        {
            problem = "The body is not JSON.";
            return false;
        }
    }

    private static IResult Fail(S2SFailure failure) =>
        Results.Json(new { error = failure.Message, code = failure.Code }, statusCode: failure.Status);

    private static IResult WithRetryAfter(this IResult result, HttpContext http)
    {
        http.Response.Headers.RetryAfter = "1";
        return result;
    }
}
