using System.Globalization;
using Freeside.Features.Common.Errors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Common.RateLimiting;

/// <summary>Rate limits on HTTP: an endpoint filter per policy, and the middleware for requests without credentials.</summary>
public static class RateLimitEndpoints
{
    /// <summary>Counts each request against <paramref name="policy"/> under the caller's client IP.</summary>
    /// <summary>
    /// Counts the route per client IP against <paramref name="policy"/> INSTEAD of the anonymous bucket,
    /// for unauthenticated routes whose callers are machines with their own proof (signed webhooks).
    /// </summary>
    public static TBuilder RequireOwnRateLimitPerClient<TBuilder>(this TBuilder builder, string policy)
        where TBuilder : IEndpointConventionBuilder =>
        builder.RequireRateLimitPerClient(policy).WithMetadata(new OwnRateLimit(policy));

    public static TBuilder RequireRateLimitPerClient<TBuilder>(this TBuilder builder, string policy)
        where TBuilder : IEndpointConventionBuilder =>
        builder.RequireRateLimit(policy, http => ClientAddress.KeyFor(http, http.RequestServices.GetRequiredService<RateLimitSettings>().TrustedProxies));

    /// <summary>
    /// Counts each request against <paramref name="policy"/> under the key <paramref name="keyOf"/> picks
    /// (null: not counted); refuses with 429 when used up. Also sets the X-RateLimit-* headers of a
    /// 429 the handler returns from its own <see cref="RateLimiter"/> call.
    /// </summary>
    public static TBuilder RequireRateLimit<TBuilder>(this TBuilder builder, string policy, Func<HttpContext, string?> keyOf)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            if (keyOf(http) is { } key)
            {
                var decision = await http.RequestServices.GetRequiredService<RateLimiter>().AcquireAsync(policy, key, http.RequestAborted);
                WriteHeaders(http.Response, decision);
                if (!decision.Allowed)
                {
                    return new RateLimited(decision).ToProblem();
                }
            }

            return await next(context);
        });
        return builder.WithRateLimitHeaders().ProducesProblem(StatusCodes.Status429TooManyRequests);
    }

    /// <summary>For endpoints whose handler calls the limiter: its 429 gets Retry-After and the X-RateLimit-* headers.</summary>
    public static TBuilder WithRateLimitHeaders<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var result = await next(context);
            var inner = result is INestedHttpResult nested ? nested.Result : result;
            if (inner is ProblemHttpResult { StatusCode: StatusCodes.Status429TooManyRequests } problem
                && RateLimited.TryReadHeaders(problem.ProblemDetails.Extensions, out var headers))
            {
                var response = context.HttpContext.Response;
                response.Headers.RetryAfter = headers.RetryAfter;
                response.Headers["X-RateLimit-Limit"] = headers.Limit;
                response.Headers["X-RateLimit-Remaining"] = headers.Remaining;
                response.Headers["X-RateLimit-Reset"] = headers.Reset;
            }

            return result;
        });

    /// <summary>
    /// Requests that present no credentials (no Authorization header, no session cookie) count against
    /// the <see cref="RateLimitPolicies.Anonymous"/> bucket of their client IP; so does every answer of
    /// 401, so a flood of made-up tokens drains the same bucket.
    /// </summary>
    public static IApplicationBuilder UseFreesideRateLimiting(this IApplicationBuilder app) =>
        app.Use(async (http, next) =>
        {
            var limiter = http.RequestServices.GetRequiredService<RateLimiter>();
            var key = ClientAddress.KeyFor(http, limiter.Settings.TrustedProxies);
            if (key is null)
            {
                await next(http);
                return;
            }

            if (http.GetEndpoint()?.Metadata.GetMetadata<OwnRateLimit>() is not null)
            {
                await next(http);
                return;
            }

            var anonymous = !http.Request.Headers.ContainsKey("Authorization") && !http.Request.Cookies.ContainsKey("freeside_session");
            if (anonymous)
            {
                var decision = await limiter.AcquireAsync(RateLimitPolicies.Anonymous, key, http.RequestAborted);
                if (!decision.Allowed)
                {
                    WriteHeaders(http.Response, decision);
                    await new RateLimited(decision).ToProblem().ExecuteAsync(http);
                    return;
                }
            }

            await next(http);
            if (!anonymous && http.Response.StatusCode == StatusCodes.Status401Unauthorized)
            {
                await limiter.AcquireAsync(RateLimitPolicies.Anonymous, key, CancellationToken.None);
            }
        });

    private static void WriteHeaders(HttpResponse response, RateLimitDecision decision)
    {
        if (response.HasStarted)
        {
            return;
        }

        response.Headers["X-RateLimit-Limit"] = decision.Limit.ToString(CultureInfo.InvariantCulture);
        response.Headers["X-RateLimit-Remaining"] = decision.Remaining.ToString(CultureInfo.InvariantCulture);
        response.Headers["X-RateLimit-Reset"] = decision.ResetUnixSeconds.ToString(CultureInfo.InvariantCulture);
        if (!decision.Allowed)
        {
            response.Headers.RetryAfter = decision.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        }
    }
}

/// <summary>Endpoint metadata: the route is limited by its own per-client policy, not the anonymous bucket.</summary>
public sealed record OwnRateLimit(string Policy);
