using Carter;
using Freeside.Features.Common.Endpoints;
using Freeside.Features.Common.Errors;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Freeside.Features.Communities;

public sealed class CommunitiesEndpoints : ICarterModule
{
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/v1/admin/communities").WithTags("Communities");
        admin.MapPost("", CreateAsync)
            .RequirePlatformAdmin()
            .WithName("CreateCommunity")
            .WithSummary("Create a community (platform admin).")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem();

        var group = app.MapGroup("/api/v1/communities").WithTags("Communities");
        group.MapGet("/{slug}", GetAsync)
            .WithName("GetCommunity")
            .WithSummary("The public view of a community.")
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    private static async Task<Results<Created<CommunityView>, ProblemHttpResult>> CreateAsync(
        CreateCommunity.Command command, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(command, cancellationToken))
            .ToHttp(view => TypedResults.Created($"/api/v1/communities/{view.Slug}", view));

    private static async Task<Results<Ok<CommunityView>, ProblemHttpResult>> GetAsync(
        string slug, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetCommunity.Query(slug), cancellationToken)).ToOk();
}
