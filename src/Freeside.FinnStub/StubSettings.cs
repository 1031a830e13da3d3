namespace Freeside.FinnStub;

/// <summary>The stand-in's knobs, named as in docs/finn-contract.md.</summary>
public sealed record StubSettings(Uri JwksUrl, int Tokens, int TokenDelayMs, bool Faults)
{
    public static StubSettings Load(IConfiguration configuration, out string? error)
    {
        error = null;
        if (!Uri.TryCreate(configuration["FREESIDE_JWKS_URL"], UriKind.Absolute, out var jwks) || jwks.Scheme is not ("http" or "https"))
        {
            error = "FREESIDE_JWKS_URL: must be the absolute http(s) URL of Freeside's /.well-known/jwks.json";
            return null!;
        }

        var tokens = 24;
        if (configuration["FINN_STUB_TOKENS"] is { Length: > 0 } rawTokens && (!int.TryParse(rawTokens, out tokens) || tokens is < 1 or > 100_000))
        {
            error = "FINN_STUB_TOKENS: must be a whole number from 1 to 100000";
            return null!;
        }

        var delay = 0;
        if (configuration["FINN_STUB_TOKEN_DELAY_MS"] is { Length: > 0 } rawDelay && (!int.TryParse(rawDelay, out delay) || delay is < 0 or > 60_000))
        {
            error = "FINN_STUB_TOKEN_DELAY_MS: must be a whole number of milliseconds from 0 to 60000";
            return null!;
        }

        var faults = string.Equals(configuration["FINN_STUB_FAULTS"], "true", StringComparison.OrdinalIgnoreCase);
        return new StubSettings(jwks, tokens, delay, faults);
    }
}
