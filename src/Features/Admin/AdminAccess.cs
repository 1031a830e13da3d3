using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Identity.Roles;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Freeside.Features.Admin;

/// <summary>Who may see a community's admin views: the platform admin (viewer null) and that community's own admins.</summary>
internal static class AdminAccess
{
    public static async Task<Result<Community>> ResolveAsync(FreesideDb db, string slug, EthereumAddress? viewer, CancellationToken cancellationToken)
    {
        // The seed's singular paths name a community by id; the rest by slug.
        Result<Community> found;
        if (Guid.TryParse(slug, out var id))
        {
            var byId = await db.Set<Community>().AsNoTracking().SingleOrDefaultAsync(c => c.Id == id, cancellationToken);
            found = byId is null ? new NotFound("community", slug) : byId;
        }
        else
        {
            found = await db.CommunityBySlugAsync(slug, cancellationToken);
        }

        if (found.Error is { } notFound)
        {
            return notFound;
        }

        if (viewer is { } wallet && !await CommunityAdmins.IsAdminAsync(db, found.Value.Id, wallet, cancellationToken))
        {
            return new AccessDenied($"Only an admin of '{found.Value.Slug}' or a platform admin may see or change its administration.");
        }

        return found.Value;
    }

    /// <summary>A command on the connection and transaction the context holds (a scope is set on that transaction).</summary>
    public static NpgsqlCommand Command(FreesideDb db, string sql, Guid communityId)
    {
        var command = new NpgsqlCommand(sql, (NpgsqlConnection)db.Database.GetDbConnection(), (NpgsqlTransaction?)db.Database.CurrentTransaction?.GetDbTransaction());
        command.Parameters.AddWithValue("c", communityId);
        return command;
    }

    /// <summary>Every row of a query, each read by <paramref name="map"/>.</summary>
    public static async Task<List<T>> ListAsync<T>(FreesideDb db, Guid communityId, string sql, Func<NpgsqlDataReader, T> map,
        CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = Command(db, sql, communityId);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(map(reader));
        }

        return rows;
    }

    /// <summary>EIP-55 form of a stored (lower-case) address; anything that is not an address is withheld.</summary>
    public static string? Checksummed(string? stored) =>
        stored is not null && EthereumAddress.TryParse(stored, out var address) ? address.ToChecksumString() : null;
}
