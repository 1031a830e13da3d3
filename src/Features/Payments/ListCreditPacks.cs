using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using MediatR;

namespace Freeside.Features.Payments;

public static class ListCreditPacks
{
    public sealed record Query : IQuery<IReadOnlyList<PackView>>;

    /// <param name="PriceUsd">The price as a decimal string ("10.00"), formatted from integer micro-USD.</param>
    public sealed record PackView(string Id, long PriceMicro, string PriceUsd, long CreditsMicro, long BonusMicro);

    internal sealed class Handler(PaymentsSettings settings) : IRequestHandler<Query, Result<IReadOnlyList<PackView>>>
    {
        public Task<Result<IReadOnlyList<PackView>>> Handle(Query request, CancellationToken cancellationToken) =>
            Task.FromResult<Result<IReadOnlyList<PackView>>>(
                settings.Packs.Select(p => new PackView(p.Id, p.PriceMicro, Usd(p.PriceMicro), p.CreditsMicro, Math.Max(0, p.CreditsMicro - p.PriceMicro))).ToList());
    }

    /// <summary>Whole cents from micro-USD, rounded down, without a double.</summary>
    internal static string Usd(long micro) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{micro / 1_000_000}.{micro % 1_000_000 / 10_000:D2}");
}
