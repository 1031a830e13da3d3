using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Payments;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Developers;

/// <summary>A signed-in wallet becomes a developer on its first key; its id is the one checkout tops up.</summary>
internal static class DeveloperAccounts
{
    public static Guid IdOf(EthereumAddress wallet) => CreatePayment.DeveloperId(wallet);

    public static string Stored(EthereumAddress wallet) => "0x" + Convert.ToHexStringLower(wallet.ToArray());

    /// <summary>Gets or creates the developer row, locked for the rest of the transaction (keys are counted under it).</summary>
    public static async Task<Developer> EnsureLockedAsync(FreesideDb db, EthereumAddress wallet, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var id = IdOf(wallet);
        await db.Database.ExecuteSqlAsync(
            $"INSERT INTO developers (id, wallet, tier, created_at) VALUES ({id}, {Stored(wallet)}, {Developer.Pro}, {now}) ON CONFLICT (id) DO NOTHING",
            cancellationToken);
        return await db.Set<Developer>().FromSql($"SELECT * FROM developers WHERE id = {id} FOR UPDATE").SingleAsync(cancellationToken);
    }
}
