using Freeside.Features.Common.Ethereum;
using MediatR;

// TEMPORARY (telegram branch): the notification of /work/brief/linking.md, stubbed until it lands on main.
namespace Freeside.Features.Payments;

public sealed record PaymentCredited(Guid PaymentId, EthereumAddress Payer, Guid? CommunityId, bool Developer, long CreditsMicro) : INotification;
