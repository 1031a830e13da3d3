using System.Globalization;
using System.Text;
using NSec.Cryptography;

namespace Freeside.Features.Discord.Client;

/// <summary>
/// Discord signs every HTTP interaction with the application's Ed25519 key over
/// X-Signature-Timestamp ‖ raw body (the exact bytes, before any JSON parsing). A request whose
/// signature does not verify, or whose timestamp is too far from now (a replay), must get 401.
/// </summary>
public sealed class InteractionSignature
{
    public const string SignatureHeader = "X-Signature-Ed25519";
    public const string TimestampHeader = "X-Signature-Timestamp";

    private static readonly SignatureAlgorithm Ed25519 = SignatureAlgorithm.Ed25519;
    private readonly PublicKey _key;

    public InteractionSignature(ReadOnlySpan<byte> publicKey)
    {
        _key = PublicKey.Import(Ed25519, publicKey, KeyBlobFormat.RawPublicKey);
    }

    /// <summary>The application's public key as the developer portal shows it: 64 hex digits.</summary>
    public static bool TryParsePublicKey(string? hex, out byte[] key)
    {
        key = [];
        if (hex is not { Length: 64 })
        {
            return false;
        }

        try
        {
            key = Convert.FromHexString(hex);
            return PublicKey.TryImport(Ed25519, key, KeyBlobFormat.RawPublicKey, out _);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    public SignatureCheck Verify(string? timestamp, string? signatureHex, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan maxSkew)
    {
        if (string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(signatureHex))
        {
            return SignatureCheck.Missing;
        }

        if (signatureHex.Length != 128 || !IsHex(signatureHex))
        {
            return SignatureCheck.Invalid;
        }

        if (timestamp.Length > 20 || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return SignatureCheck.Invalid;
        }

        var signature = Convert.FromHexString(signatureHex);
        var timestampBytes = Encoding.ASCII.GetBytes(timestamp);
        var signed = new byte[timestampBytes.Length + body.Length];
        timestampBytes.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(timestampBytes.Length));
        if (!Ed25519.Verify(_key, signed, signature))
        {
            return SignatureCheck.Invalid;
        }

        // Checked after the signature so an attacker learns nothing about our clock from unsigned requests.
        var age = now - DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(seconds, 0, 253402300799));
        return age.Duration() > maxSkew ? SignatureCheck.Stale : SignatureCheck.Valid;
    }

    private static bool IsHex(string text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}

public enum SignatureCheck
{
    Valid,
    Missing,
    Invalid,
    Stale,
}
