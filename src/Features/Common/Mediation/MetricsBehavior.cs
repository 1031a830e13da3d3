using System.Diagnostics;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Observability;
using MediatR;

namespace Freeside.Features.Common.Mediation;

/// <summary>Outermost: times every request by type and outcome, whatever happens inside.</summary>
public sealed class MetricsBehavior<TRequest, TResponse>(FreesideMetrics metrics) : IPipelineBehavior<TRequest, TResponse>
{
    private static readonly string RequestType = typeof(TRequest).DeclaringType is { } outer
        ? $"{outer.Name}.{typeof(TRequest).Name}"
        : typeof(TRequest).Name;

    public async Task<TResponse> Handle(TRequest request, CancellationToken cancellationToken, RequestHandlerDelegate<TResponse> next)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = "exception";
        try
        {
            var response = await next();
            outcome = response is IResultOutcome { Error: { } error } ? "failure:" + error.Type : "success";
            return response;
        }
        finally
        {
            metrics.RecordMediatorRequest(RequestType, outcome, Stopwatch.GetElapsedTime(started));
        }
    }
}
