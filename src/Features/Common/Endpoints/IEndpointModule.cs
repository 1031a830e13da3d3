using Microsoft.AspNetCore.Routing;

namespace Freeside.Features.Common.Endpoints;

/// <summary>
/// One per capability, in Carter's one-method shape: no constructor dependencies, one MapGroup,
/// routes that bind, send and map. Discovered and mapped at start-up.
/// </summary>
public interface IEndpointModule
{
    void AddRoutes(IEndpointRouteBuilder app);
}
