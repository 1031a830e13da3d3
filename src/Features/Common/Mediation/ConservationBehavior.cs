using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Observability;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Common.Mediation;

/// <summary>
/// Innermost, for <see cref="IMovesCredits"/> commands only: after the handler, inside its
/// transaction, flushes the changes and runs every <see cref="IConservationCheck"/> over the
/// accounts the handler touched. Any violation fails the request, so the transaction behavior
/// rolls the whole unit back. This is the backstop that proves the sums, not a business rule.
/// </summary>
public sealed partial class ConservationBehavior<TRequest, TResponse>(
    FreesideDb db,
    TouchedAccounts touched,
    IEnumerable<IConservationCheck> checks,
    FreesideMetrics metrics,
    ILogger<ConservationBehavior<TRequest, TResponse>> logger) : IPipelineBehavior<TRequest, TResponse>
{
    private static readonly bool MovesCredits = typeof(IMovesCredits).IsAssignableFrom(typeof(TRequest));

    public async Task<TResponse> Handle(TRequest request, CancellationToken cancellationToken, RequestHandlerDelegate<TResponse> next)
    {
        var response = await next();
        if (!MovesCredits || response is IResultOutcome { Error: not null } || touched.Accounts.Count == 0)
        {
            return response;
        }

        if (db.Database.CurrentTransaction is null)
        {
            throw new InvalidOperationException($"{typeof(TRequest).Name} moves credits but runs outside a transaction; it must be an ICommand.");
        }

        await db.SaveChangesAsync(cancellationToken);
        var accounts = touched.Accounts.ToArray();
        foreach (var check in checks)
        {
            var violations = await check.CheckAsync(accounts, cancellationToken);
            if (violations.Count == 0)
            {
                metrics.ConservationCheck(passed: true);
                continue;
            }

            metrics.ConservationCheck(passed: false);
            foreach (var violation in violations)
            {
                metrics.ConservationFailure(violation.Invariant);
                LogViolation(logger, violation.Invariant, violation.AccountId, typeof(TRequest).FullName ?? typeof(TRequest).Name, violation.Detail);
            }

            return Failure<TResponse>.From(new ConservationViolated(violations[0].Invariant));
        }

        return response;
    }

    [LoggerMessage(EventId = 9001, EventName = "conservation_guard_violation", Level = LogLevel.Critical,
        Message = "conservation_guard_violation invariant={Invariant} account={AccountId} request={RequestType} detail={Detail}")]
    private static partial void LogViolation(ILogger logger, string invariant, Guid accountId, string requestType, string detail);
}

/// <summary>One conservation invariant that a command must leave intact.</summary>
public interface IConservationCheck
{
    Task<IReadOnlyList<InvariantViolation>> CheckAsync(IReadOnlyCollection<Guid> accountIds, CancellationToken cancellationToken);
}

public sealed record InvariantViolation(string Invariant, Guid AccountId, string Detail);

public sealed record ConservationViolated(string Invariant)
    : Error(ErrorKind.Internal, "conservation-violated", "A ledger invariant would have been broken; nothing was written.",
        $"Invariant {Invariant} failed; the operation was rolled back.");

/// <summary>The accounts a command's handler moved credits on; the conservation guard checks exactly these.</summary>
public sealed class TouchedAccounts
{
    private readonly HashSet<Guid> _accounts = [];

    public IReadOnlyCollection<Guid> Accounts => _accounts;

    public void Add(Guid accountId) => _accounts.Add(accountId);

    public void Clear() => _accounts.Clear();
}
