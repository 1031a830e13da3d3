using Freeside.Features.Common.Errors;
using Freeside.Features.Ledger;

namespace Freeside.Features.Inference;

/// <summary>
/// Where a chat's hold is made: the gate may refuse it (a community budget) and records whom it was
/// for. Community admin implements it (Admin/BudgetGuard), so Inference does not depend on Admin.
/// </summary>
public interface IChatReservationGate
{
    /// <param name="wallet">The chatting wallet, lower-case hex.</param>
    /// <param name="reserve">Makes the hold; idempotent on its key.</param>
    Task<Result<ReservationView>> ReserveAsync(Guid communityId, string wallet, long amountMicro,
        Func<Task<Result<ReservationView>>> reserve, CancellationToken cancellationToken);
}
