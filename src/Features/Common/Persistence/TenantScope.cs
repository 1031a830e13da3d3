namespace Freeside.Features.Common.Persistence;

/// <summary>
/// The row-level-security scope of a transaction: tenant tables' policies compare their
/// community_id with the setting <see cref="Setting"/> (see M0001's freeside_tenant_visible).
/// Every place that sets it uses <see cref="Set"/>, so the setting's name is written once.
/// </summary>
public static class TenantScope
{
    public const string Setting = "freeside.community_id";

    /// <summary>Sees every community's rows (and developer accounts', which have none): cross-community jobs only.</summary>
    public const string Platform = "*";

    /// <summary>SQL that sets the scope for the rest of the transaction to <paramref name="value"/>, a text parameter or expression.</summary>
    public static string Set(string value) => $"set_config('{Setting}', {value}, true)";

    public static string Of(Guid communityId) => communityId.ToString();
}
