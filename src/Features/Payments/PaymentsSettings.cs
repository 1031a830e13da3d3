using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Freeside.Features.Payments;

/// <summary>A pack a wallet can buy: what it costs and what it credits, both in micro-USD.</summary>
public sealed record CreditPack(string Id, long PriceMicro, long CreditsMicro);

/// <summary>The payments capability's settings.</summary>
/// <param name="IpnSecret">NOWPAYMENTS_IPN_SECRET; null means no IPN can verify (every IPN is 401).</param>
public sealed record PaymentsSettings(bool CheckoutEnabled, string? IpnSecret, string? ApiKey, IReadOnlyList<CreditPack> Packs)
{
    /// <summary>NOWPAYMENTS_API_URL: the API base (the sandbox, or a stand-in in tests).</summary>
    public Uri ApiUrl { get; init; } = new("https://api.nowpayments.io/");

    /// <summary>NOWPAYMENTS_IPN_CALLBACK_URL; null means the first public URL + /api/crypto/webhook.</summary>
    public Uri? IpnCallbackUrl { get; init; }

    /// <summary>One call to NOWPayments; retries on 5xx stay inside <see cref="CallBudget"/>.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan CallBudget { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// NOWPAYMENTS_EMAIL / NOWPAYMENTS_PASSWORD: the dashboard account whose JWT (POST /v1/auth) NOWPayments
    /// requires to list payments; reconciliation needs it to find a payment by invoice when every IPN was lost.
    /// </summary>
    public string? AccountEmail { get; init; }

    public string? AccountPassword { get; init; }

    /// <summary>NOWPAYMENTS_ENVIRONMENT=simulator: the API is the stand-in inside this process (never in Production).</summary>
    public bool Simulator { get; init; }

    /// <summary>starter $5 → $5, standard $10 → $10.50 (5 % bonus), premium $25 → $27.50 (10 % bonus).</summary>
    public const string DefaultPacks = "starter:5000000:5000000,standard:10000000:10500000,premium:25000000:27500000";

    /// <summary>Checkout needs the flag on and NOWPayments credentials to ask for invoices with.</summary>
    public bool CheckoutAvailable => CheckoutEnabled && ApiKey is not null;

    public CreditPack? Pack(string id) => Packs.FirstOrDefault(p => string.Equals(p.Id, id, StringComparison.Ordinal));

    public static PaymentsSettings Load(IConfiguration configuration, bool isDevelopment, List<string> errors)
    {
        var enabled = true;
        if (configuration["FEATURE_CRYPTO_PAYMENTS_ENABLED"] is { Length: > 0 } rawEnabled && !bool.TryParse(rawEnabled, out enabled))
        {
            errors.Add("FEATURE_CRYPTO_PAYMENTS_ENABLED: must be true or false");
        }

        var secret = configuration["NOWPAYMENTS_IPN_SECRET"] is { Length: > 0 } s ? s : null;
        var apiKey = configuration["NOWPAYMENTS_API_KEY"] is { Length: > 0 } k ? k : null;
        // A deployment that has not set up NOWPayments at all runs without checkout (503); one that asks
        // for payments explicitly, or sets only half of the credentials, is a mistake to stop on.
        var explicitlyEnabled = enabled && configuration["FEATURE_CRYPTO_PAYMENTS_ENABLED"] is { Length: > 0 };
        if ((secret is null) != (apiKey is null))
        {
            errors.Add("NOWPAYMENTS_IPN_SECRET and NOWPAYMENTS_API_KEY: set both or neither");
        }
        else if (!isDevelopment && explicitlyEnabled && secret is null)
        {
            errors.Add("NOWPAYMENTS_IPN_SECRET and NOWPAYMENTS_API_KEY: both are required outside Development when FEATURE_CRYPTO_PAYMENTS_ENABLED is true");
        }

        if (secret is { Length: < 16 })
        {
            errors.Add("NOWPAYMENTS_IPN_SECRET: must be at least 16 characters");
        }

        var packs = ParsePacks(configuration["FREESIDE_CREDIT_PACKS"] is { Length: > 0 } raw ? raw : DefaultPacks, errors);
        var environment = configuration["NOWPAYMENTS_ENVIRONMENT"] is { Length: > 0 } rawEnvironment ? rawEnvironment : "production";
        if (environment is not ("production" or "sandbox" or "simulator"))
        {
            errors.Add("NOWPAYMENTS_ENVIRONMENT: must be production, sandbox or simulator");
        }
        else if (environment == "simulator" && !isDevelopment)
        {
            errors.Add("NOWPAYMENTS_ENVIRONMENT: simulator is for development only; it is refused outside Development");
        }

        var apiUrl = Url(configuration, "NOWPAYMENTS_API_URL", errors)
            ?? new Uri(environment == "sandbox" ? "https://api-sandbox.nowpayments.io/" : "https://api.nowpayments.io/");
        var callback = Url(configuration, "NOWPAYMENTS_IPN_CALLBACK_URL", errors);
        var email = configuration["NOWPAYMENTS_EMAIL"] is { Length: > 0 } e ? e : null;
        var password = configuration["NOWPAYMENTS_PASSWORD"] is { Length: > 0 } pw ? pw : null;
        if ((email is null) != (password is null))
        {
            errors.Add("NOWPAYMENTS_EMAIL and NOWPAYMENTS_PASSWORD: set both or neither");
        }

        return new PaymentsSettings(enabled, secret, apiKey, packs)
        {
            ApiUrl = apiUrl, IpnCallbackUrl = callback, Simulator = environment == "simulator", AccountEmail = email, AccountPassword = password,
        };
    }

    private static Uri? Url(IConfiguration configuration, string name, List<string> errors)
    {
        if (configuration[name] is not { Length: > 0 } raw)
        {
            return null;
        }

        if (!Uri.TryCreate(raw, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            errors.Add($"{name}: must be an absolute http(s) URL");
            return null;
        }

        return url;
    }

    /// <summary>"id:price_micro:credits_micro,…" — integers only, so no pack price passes through a double.</summary>
    internal static List<CreditPack> ParsePacks(string raw, List<string> errors)
    {
        var packs = new List<CreditPack>();
        foreach (var item in raw.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split(':');
            if (parts.Length != 3
                || parts[0].Length is 0 or > 40 || !parts[0].All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_')
                || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var price) || price is < 1 or > 1_000_000_000_000
                || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var credits) || credits is < 1 or > 1_000_000_000_000)
            {
                errors.Add($"FREESIDE_CREDIT_PACKS: '{item}' is not id:price_micro:credits_micro (lowercase id, whole positive micro-USD amounts)");
                continue;
            }

            if (packs.Any(p => p.Id == parts[0]))
            {
                errors.Add($"FREESIDE_CREDIT_PACKS: pack '{parts[0]}' appears twice");
                continue;
            }

            packs.Add(new CreditPack(parts[0], price, credits));
        }

        if (packs.Count == 0 && errors.Count == 0)
        {
            errors.Add("FREESIDE_CREDIT_PACKS: names no pack");
        }

        return packs;
    }
}
