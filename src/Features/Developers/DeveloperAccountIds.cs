using System.Collections.Concurrent;
using Freeside.Features.Common.Errors;
using Freeside.Features.Ledger;
using MediatR;

namespace Freeside.Features.Developers;

/// <summary>Developer → credit account id; an account is never deleted or re-keyed, so it is cached for the process's life.</summary>
public sealed class DeveloperAccountIds
{
    private readonly ConcurrentDictionary<Guid, Guid> _accounts = new();

    public async Task<Result<Guid>> GetAsync(Guid developerId, IMediator mediator, CancellationToken cancellationToken)
    {
        if (_accounts.TryGetValue(developerId, out var known))
        {
            return known;
        }

        var opened = await mediator.Send(new OpenCreditAccount.Command(null, developerId), cancellationToken);
        if (opened.IsSuccess)
        {
            _accounts[developerId] = opened.Value;
        }

        return opened;
    }
}
