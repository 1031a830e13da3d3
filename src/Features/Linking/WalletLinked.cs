using Freeside.Features.Common.Ethereum;
using MediatR;

namespace Freeside.Features.Linking;

/// <summary>Published after a link has been committed: the chat surface can greet the user.</summary>
public sealed record WalletLinked(LinkPlatform Platform, string ExternalUserId, EthereumAddress Wallet) : INotification;
