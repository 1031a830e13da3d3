using Freeside.Features.Common.Errors;
using MediatR;

namespace Freeside.Features.Common.Mediation;

/// <summary>A request that changes state; the transaction behavior wraps it in one unit of work.</summary>
public interface ICommand<TValue> : IRequest<Result<TValue>>
{
}

/// <summary>A read; runs without a transaction unless it is also tenant-scoped.</summary>
public interface IQuery<TValue> : IRequest<Result<TValue>>
{
}

/// <summary>
/// A command that moves credits. The conservation behavior checks the ledger invariants for every
/// account the handler touched, inside the command's transaction, before it commits.
/// </summary>
public interface IMovesCredits
{
}
