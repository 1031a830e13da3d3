using Carter;
using Freeside.Features.Common.Endpoints;
using Freeside.Features.Common.Errors;
using Freeside.Features.Identity.Sessions;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Freeside.Features.Ledger;

public sealed class LedgerEndpoints : ICarterModule
{
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1").WithTags("Ledger");
        group.MapPost("/admin/communities/{slug}/grants", GrantAsync)
            .RequirePlatformAdmin()
            .WithName("GrantCredits")
            .WithSummary("Give a community credits as a grant lot (platform admin); idempotent per idempotency_key.")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem();

        group.MapPost("/admin/communities/{slug}/reversals", ReverseAsync)
            .RequirePlatformAdmin()
            .WithName("ReverseCharge")
            .WithSummary("Give back part or all of a finalized reservation's charge (platform admin); idempotent per idempotency_key.")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem();

        group.MapGet("/communities/{slug}/balance", BalanceAsync)
            .RequirePlatformAdminOrSession()
            .WithName("GetBalance")
            .WithSummary("A community's credit balance in micro-USD and one page of its lots, oldest first (platform admin, or a community admin's session).")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesValidationProblem();

        group.MapGet("/admin/community/{slug}/conservation", ConservationAsync)
            .RequirePlatformAdmin()
            .WithName("GetConservationStatus")
            .WithSummary("Runs the full conservation audit (C1–C6) for a community now, with its recent violations.")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapPost("/admin/ledger/audit", AuditAllAsync)
            .RequirePlatformAdmin()
            .WithName("AuditLedger")
            .WithSummary("Runs the full conservation audit over every account now (the hourly job, on demand).")
            .ProducesProblem(StatusCodes.Status401Unauthorized);
    }

    public sealed record GrantRequest(long? AmountMicro, string? Reason, string? IdempotencyKey, DateTimeOffset? ExpiresAt);

    private static async Task<Results<Created<GrantCredits.GrantView>, Ok<GrantCredits.GrantView>, ProblemHttpResult>> GrantAsync(
        string slug, GrantRequest body, IMediator mediator, CancellationToken cancellationToken)
    {
        var result = await mediator.Send(new GrantCredits.Command(slug, body.AmountMicro, body.Reason, body.IdempotencyKey, body.ExpiresAt), cancellationToken);
        return CreatedOrReplayed(result, slug, v => v.Replayed);
    }

    public sealed record ReversalRequest(Guid? ReservationId, long? AmountMicro, string? Reason, string? IdempotencyKey);

    private static async Task<Results<Created<ReverseCharge.ReversalView>, Ok<ReverseCharge.ReversalView>, ProblemHttpResult>> ReverseAsync(
        string slug, ReversalRequest body, IMediator mediator, CancellationToken cancellationToken)
    {
        var result = await mediator.Send(new ReverseCharge.Command(slug, body.ReservationId, body.AmountMicro, body.Reason, body.IdempotencyKey), cancellationToken);
        return CreatedOrReplayed(result, slug, v => v.Replayed);
    }

    /// <summary>201 for a new movement (it shows in the balance), 200 for the replay of an idempotency key.</summary>
    private static Results<Created<T>, Ok<T>, ProblemHttpResult> CreatedOrReplayed<T>(Result<T> result, string slug, Func<T, bool> replayed)
    {
        if (!result.IsSuccess)
        {
            return result.Error!.ToProblem();
        }

        return replayed(result.Value)
            ? TypedResults.Ok(result.Value)
            : TypedResults.Created($"/api/v1/communities/{slug}/balance", result.Value);
    }

    private static async Task<Results<Ok<GetBalance.BalanceView>, ProblemHttpResult>> BalanceAsync(
        string slug, int? limit, string? cursor, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetBalance.Query(slug, http.CallerOrPlatform()?.Address, limit, cursor), cancellationToken)).ToOk();

    private static async Task<Results<Ok<AuditConservation.AuditReport>, ProblemHttpResult>> ConservationAsync(
        string slug, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new AuditConservation.Command(slug), cancellationToken)).ToOk();

    private static async Task<Results<Ok<AuditConservation.AuditReport>, ProblemHttpResult>> AuditAllAsync(
        IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new AuditConservation.Command(null), cancellationToken)).ToOk();
}
