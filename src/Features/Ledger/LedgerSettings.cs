using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Freeside.Features.Ledger;

/// <summary>FREESIDE_LEDGER_ORPHAN_AFTER_SECONDS and FREESIDE_JOBS_ENABLED, checked at start-up.</summary>
public sealed record LedgerSettings(TimeSpan OrphanAfter, bool JobsEnabled)
{
    public static LedgerSettings Load(IConfiguration configuration)
    {
        var orphanAfter = 300;
        if (configuration["FREESIDE_LEDGER_ORPHAN_AFTER_SECONDS"] is { Length: > 0 } raw
            && (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out orphanAfter) || orphanAfter is < 1 or > 86_400))
        {
            throw new InvalidOperationException("FREESIDE_LEDGER_ORPHAN_AFTER_SECONDS: must be a whole number of seconds from 1 to 86400");
        }

        var jobs = true;
        if (configuration["FREESIDE_JOBS_ENABLED"] is { Length: > 0 } rawJobs && !bool.TryParse(rawJobs, out jobs))
        {
            throw new InvalidOperationException("FREESIDE_JOBS_ENABLED: must be true or false");
        }

        return new LedgerSettings(TimeSpan.FromSeconds(orphanAfter), jobs);
    }
}
