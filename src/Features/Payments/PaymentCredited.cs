using Freeside.Features.Common.Ethereum;
using MediatR;

namespace Freeside.Features.Payments;

/// <summary>
/// Published after a finished payment's credits are committed, by the IPN and by reconciliation alike
/// (once per payment: the mint is). For "your credits arrived" messages, not for bookkeeping.
/// </summary>
public sealed record PaymentCredited(Guid PaymentId, EthereumAddress Payer, Guid? CommunityId, bool Developer, long CreditsMicro) : INotification;
