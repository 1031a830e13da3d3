using System.Globalization;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace Freeside.Features.Developers;

/// <summary>The developer platform's settings (README, "Configuration").</summary>
/// <param name="Peppers">API key peppers by version (API_KEY_PEPPER_V1…): the newest signs new keys, every one verifies.</param>
public sealed record DevelopersSettings(IReadOnlyDictionary<int, byte[]> Peppers, int SandboxRequestsPerMinute, int SandboxTokensPerDay)
{
    public const int MaxPepperVersion = 99;

    /// <summary>Development without a pepper: a fixed, public one, so keys survive restarts. Never outside Development.</summary>
    internal static readonly byte[] DevelopmentPepper = Encoding.UTF8.GetBytes("freeside-development-api-key-pepper-not-secret");

    /// <summary>Outside Development without API_KEY_PEPPER_V1 no key can be made (503), as checkout is off without its key.</summary>
    public bool KeysEnabled => Peppers.Count > 0;

    public int CurrentPepperVersion => Peppers.Keys.Max();

    public static DevelopersSettings Load(IConfiguration configuration, bool isDevelopment, List<string> errors)
    {
        var peppers = new Dictionary<int, byte[]>();
        for (var version = 1; version <= MaxPepperVersion; version++)
        {
            var name = "API_KEY_PEPPER_V" + version.ToString(CultureInfo.InvariantCulture);
            if (configuration[name] is not { Length: > 0 } raw)
            {
                continue;
            }

            if (raw.Length < 32)
            {
                errors.Add($"{name}: must be at least 32 characters (a random secret, e.g. openssl rand -base64 32)");
                continue;
            }

            peppers[version] = Encoding.UTF8.GetBytes(raw);
        }

        if (peppers.Count == 0)
        {
            if (isDevelopment)
            {
                peppers[1] = DevelopmentPepper;
            }
        }

        return new DevelopersSettings(peppers,
            Whole(configuration, "FREESIDE_SANDBOX_REQUESTS_PER_MINUTE", 10, 1, 1_000, errors),
            Whole(configuration, "FREESIDE_SANDBOX_TOKENS_PER_DAY", 1_000, 1, 10_000_000, errors));
    }

    private static int Whole(IConfiguration configuration, string name, int fallback, int min, int max, List<string> errors)
    {
        if (configuration[name] is not { Length: > 0 } raw)
        {
            return fallback;
        }

        if (int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        errors.Add($"{name}: must be a whole number from {min} to {max}");
        return fallback;
    }
}
