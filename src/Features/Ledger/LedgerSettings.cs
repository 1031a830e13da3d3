using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Freeside.Features.Ledger;

/// <summary>The credit ledger's settings.</summary>
public sealed record LedgerSettings(TimeSpan OrphanAfter)
{
    public static LedgerSettings Load(IConfiguration configuration, List<string> errors)
    {
        var orphanAfter = 300;
        if (configuration["FREESIDE_LEDGER_ORPHAN_AFTER_SECONDS"] is { Length: > 0 } raw
            && (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out orphanAfter) || orphanAfter is < 1 or > 86_400))
        {
            errors.Add("FREESIDE_LEDGER_ORPHAN_AFTER_SECONDS: must be a whole number of seconds from 1 to 86400");
        }

        return new LedgerSettings(TimeSpan.FromSeconds(orphanAfter));
    }
}
