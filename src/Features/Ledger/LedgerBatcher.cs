using Freeside.Features.Common.Errors;
using MediatR;
using Microsoft.Extensions.DependencyInjection;

namespace Freeside.Features.Ledger;

/// <summary>
/// The fast path for callers that reserve and settle at high rates (inference). Each account maps to
/// one of a few lanes; operations queue in their lane while its previous batch commits, then go
/// together as one <see cref="ApplyLedgerBatch"/> command through the full pipeline (validation,
/// transaction, guard). A hot account's operations thus share one lot lock and one commit per batch,
/// and two lanes never touch the same account, so their transactions never wait on each other.
/// Every caller gets its own result. If the batch as a whole fails — a guard violation, a reused
/// finalization id, a dropped connection — nothing of it was committed, and each operation is re-sent
/// on its own, so one caller's fault never becomes another's.
/// </summary>
public sealed class LedgerBatcher(IServiceScopeFactory scopes)
{
    private static readonly int Lanes = Math.Max(2, Environment.ProcessorCount);
    private readonly AccountQueue[] _lanes = [.. Enumerable.Range(0, Lanes).Select(_ => new AccountQueue())];

    public async Task<Result<ReservationView>> ReserveAsync(ReserveCredits.Command command, CancellationToken cancellationToken = default) =>
        (Result<ReservationView>)await EnqueueAsync(command, cancellationToken);

    public async Task<Result<FinalizationView>> FinalizeAsync(FinalizeReservation.Command command, CancellationToken cancellationToken = default) =>
        (Result<FinalizationView>)await EnqueueAsync(command, cancellationToken);

    public async Task<Result<ReservationView>> ReleaseAsync(ReleaseReservation.Command command, CancellationToken cancellationToken = default) =>
        (Result<ReservationView>)await EnqueueAsync(command, cancellationToken);

    private Task<IResultOutcome> EnqueueAsync(ILedgerOperation operation, CancellationToken cancellationToken)
    {
        var pending = new Pending(operation, new TaskCompletionSource<IResultOutcome>(TaskCreationOptions.RunContinuationsAsynchronously));
        var queue = _lanes[(operation.RoutingAccountId.GetHashCode() & int.MaxValue) % Lanes];
        bool lead;
        lock (queue)
        {
            queue.Items.Enqueue(pending);
            lead = !queue.Draining;
            queue.Draining = true;
        }

        if (lead)
        {
            // Not tied to one caller's cancellation: the batch carries other callers' operations too.
            _ = Task.Run(() => DrainAsync(queue), CancellationToken.None);
        }

        return pending.Completion.Task.WaitAsync(cancellationToken);
    }

    private async Task DrainAsync(AccountQueue queue)
    {
        while (true)
        {
            List<Pending> batch;
            lock (queue)
            {
                if (queue.Items.Count == 0)
                {
                    queue.Draining = false;
                    return;
                }

                batch = new List<Pending>(Math.Min(queue.Items.Count, ApplyLedgerBatch.MaxOperations));
                while (batch.Count < ApplyLedgerBatch.MaxOperations && queue.Items.TryDequeue(out var item))
                {
                    batch.Add(item);
                }
            }

            await RunAsync(batch);
        }
    }

    private async Task RunAsync(List<Pending> batch)
    {
        if (batch.Count > 1)
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var result = await scope.ServiceProvider.GetRequiredService<IMediator>()
                    .Send(new ApplyLedgerBatch.Command([.. batch.Select(p => p.Operation)]));
                if (result.IsSuccess)
                {
                    for (var i = 0; i < batch.Count; i++)
                    {
                        batch[i].Completion.TrySetResult(result.Value[i]);
                    }

                    return;
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The batch rolled back as a whole; each operation gets its own verdict below.
            }
        }

        await Task.WhenAll(batch.Select(SendAloneAsync));
    }

    private async Task SendAloneAsync(Pending pending)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var mediator = scope.ServiceProvider.GetRequiredService<IMediator>();
            IResultOutcome outcome = pending.Operation switch
            {
                ReserveCredits.Command c => await mediator.Send(c),
                FinalizeReservation.Command c => await mediator.Send(c),
                ReleaseReservation.Command c => await mediator.Send(c),
                _ => throw new InvalidOperationException($"{pending.Operation.GetType()} is not a ledger operation."),
            };
            pending.Completion.TrySetResult(outcome);
        }
        catch (Exception e)
        {
            pending.Completion.TrySetException(e);
        }
    }

    private sealed record Pending(ILedgerOperation Operation, TaskCompletionSource<IResultOutcome> Completion);

    private sealed class AccountQueue
    {
        public Queue<Pending> Items { get; } = new();

        public bool Draining { get; set; }
    }
}
