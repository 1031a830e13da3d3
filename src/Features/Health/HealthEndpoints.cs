using Carter;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Freeside.Features.Health;

public sealed class HealthEndpoints : ICarterModule
{
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        app.MapGroup("/health").WithTags("Health")
            .MapGet("", GetAsync)
            .WithName("GetHealth")
            .WithSummary("Liveness and dependency status; 503 when PostgreSQL is unreachable.")
            .Produces<CheckHealth.Report>()
            .Produces<CheckHealth.Report>(StatusCodes.Status503ServiceUnavailable);
    }

    internal static async Task<JsonHttpResult<CheckHealth.Report>> GetAsync(IMediator mediator, HttpContext context, CancellationToken cancellationToken)
    {
        var report = (await mediator.Send(new CheckHealth.Query(), cancellationToken)).Value;
        context.Response.Headers["X-Contract-Version"] = CheckHealth.ContractVersion;
        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.Json(report, statusCode: report.IsServing ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }
}
