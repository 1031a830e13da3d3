using Carter;
using Freeside.Features.Common.Errors;
using Freeside.Features.Identity.Sessions;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Freeside.Features.Admin;

/// <summary>
/// Community admin views (docs/admin.md), for the platform admin and the community's own admins. Each
/// route also answers under the seed's singular <c>/admin/community/{slug}/…</c> path.
/// </summary>
public sealed class AdminEndpoints : ICarterModule
{
    private static readonly string[] Prefixes = ["/admin/communities/{slug}", "/admin/community/{slug}"];

    public void AddRoutes(IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1").WithTags("Admin");
        foreach (var prefix in Prefixes)
        {
            var alias = prefix.Contains("/community/", StringComparison.Ordinal) ? "Alias" : "";
            Describe(group.MapGet(prefix + "/usage", UsageAsync), "GetCommunityUsage" + alias,
                "Spend over a period (day, week, month): total, per pool, per wallet, daily series, burn rate, projected depletion.");
            Describe(group.MapGet(prefix + "/billing", BillingAsync), "GetCommunityBilling" + alias,
                "Balance, debt, the newest lots, payments, refunds and reversals.");
            Describe(group.MapGet(prefix + "/agents", AgentsAsync), "GetCommunityAgents" + alias,
                "Active agents, conversations, messages and last activity.");
            Describe(group.MapGet(prefix + "/pool-access", PoolAccessAsync), "GetCommunityPoolAccess" + alias,
                "For each tier the pools it allows and why, pool-claim rejections, and the 30-day distribution of calls over pools.");
            Describe(group.MapGet(prefix + "/budget", GetBudgetAsync), "GetCommunityBudget" + alias,
                "The community's budgets (null: no cap) and what this month's chat reservations spent or hold.");
            Describe(group.MapPut(prefix + "/budget", SetBudgetAsync), "SetCommunityBudget" + alias,
                "Replaces the community's budgets: monthly_cap_micro and daily_cap_per_wallet_micro (absent: no cap); enforced at reservation.")
                .ProducesValidationProblem();
            Describe(group.MapGet(prefix + "/audit", AuditAsync), "ExportCommunityAudit" + alias,
                "Streams every credit movement as JSONL or CSV (format), from since (a time, or the last entry_id received) until a time.")
                .Produces(StatusCodes.Status200OK, contentType: "application/x-ndjson")
                .Produces(StatusCodes.Status200OK, contentType: "text/csv")
                .ProducesValidationProblem();
        }

        // The seed's singular conservation path belongs to the ledger (platform admin); this one is for community admins too.
        Describe(group.MapGet(Prefixes[0] + "/conservation", ConservationAsync), "GetCommunityConservation",
            "The full conservation audit run now, with every violation recorded for the community.");

        app.MapGet("/admin/{slug}", DashboardPage)
            .WithTags("Admin")
            .WithName("CommunityAdminDashboard")
            .WithSummary("The community admin dashboard page; its data comes from the admin API with the caller's session.")
            .Produces(StatusCodes.Status200OK, contentType: "text/html")
            .ExcludeFromDescription();
    }

    private static RouteHandlerBuilder Describe(RouteHandlerBuilder route, string name, string summary) =>
        route.RequirePlatformAdminOrSession()
            .WithName(name)
            .WithSummary(summary)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

    private static async Task<Results<Ok<GetUsage.UsageView>, ProblemHttpResult>> UsageAsync(
        string slug, string? period, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetUsage.Query(slug, period, http.CallerOrPlatform()?.Address), cancellationToken)).ToOk();

    private static async Task<Results<Ok<GetBilling.BillingView>, ProblemHttpResult>> BillingAsync(
        string slug, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetBilling.Query(slug, http.CallerOrPlatform()?.Address), cancellationToken)).ToOk();

    private static async Task<Results<Ok<GetAgents.AgentsView>, ProblemHttpResult>> AgentsAsync(
        string slug, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetAgents.Query(slug, http.CallerOrPlatform()?.Address), cancellationToken)).ToOk();

    private static async Task<Results<Ok<GetPoolAccess.PoolAccessView>, ProblemHttpResult>> PoolAccessAsync(
        string slug, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetPoolAccess.Query(slug, http.CallerOrPlatform()?.Address), cancellationToken)).ToOk();

    private static async Task<Results<Ok<GetConservation.ConservationView>, ProblemHttpResult>> ConservationAsync(
        string slug, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetConservation.Query(slug, http.CallerOrPlatform()?.Address), cancellationToken)).ToOk();

    private static async Task<Results<Ok<BudgetView>, ProblemHttpResult>> GetBudgetAsync(
        string slug, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new GetBudget.Query(slug, http.CallerOrPlatform()?.Address), cancellationToken)).ToOk();

    public sealed record BudgetRequest(long? MonthlyCapMicro, long? DailyCapPerWalletMicro);

    private static async Task<Results<Ok<BudgetView>, ProblemHttpResult>> SetBudgetAsync(
        string slug, BudgetRequest body, HttpContext http, IMediator mediator, CancellationToken cancellationToken) =>
        (await mediator.Send(new SetBudget.Command(slug, body.MonthlyCapMicro, body.DailyCapPerWalletMicro, http.CallerOrPlatform()?.Address), cancellationToken)).ToOk();

    private static async Task<Results<PushStreamHttpResult, ProblemHttpResult>> AuditAsync(
        string slug, string? format, string? since, string? until, HttpContext http, IMediator mediator, CancellationToken cancellationToken)
    {
        var export = await mediator.Send(new ExportAudit.Query(slug, format, since, until, http.CallerOrPlatform()?.Address), cancellationToken);
        if (export.Error is { } error)
        {
            return error.ToProblem();
        }

        var aborted = http.RequestAborted;
        return TypedResults.Stream(stream => export.Value.WriteAsync(stream, aborted), export.Value.ContentType, export.Value.FileName);
    }

    private static IResult DashboardPage() => TypedResults.Content(Dashboard.Html, "text/html; charset=utf-8");
}
