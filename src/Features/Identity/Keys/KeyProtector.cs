using System.Security.Cryptography;
using System.Text;

namespace Freeside.Features.Identity.Keys;

/// <summary>
/// Seals private key material with AES-256-GCM under the KEK. The kid is the associated data, so a
/// ciphertext copied onto another key's row fails to open instead of silently signing as that key.
/// </summary>
public sealed class KeyProtector(IdentitySettings settings)
{
    private const int NonceSize = 12;
    private const int TagSize = 16;

    /// <summary>Names the KEK without revealing it: the first 8 bytes of its SHA-256, hex.</summary>
    public string KekId { get; } = Convert.ToHexStringLower(SHA256.HashData(settings.KeyEncryptionKey))[..16];

    public byte[] Seal(ReadOnlySpan<byte> plaintext, string kid)
    {
        var blob = new byte[NonceSize + plaintext.Length + TagSize];
        var nonce = blob.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(settings.KeyEncryptionKey, TagSize);
        aes.Encrypt(nonce, plaintext, blob.AsSpan(NonceSize, plaintext.Length), blob.AsSpan(NonceSize + plaintext.Length), Encoding.UTF8.GetBytes(kid));
        return blob;
    }

    public byte[]? TryOpen(byte[] blob, string kid)
    {
        if (blob.Length <= NonceSize + TagSize)
        {
            return null;
        }

        var plaintext = new byte[blob.Length - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(settings.KeyEncryptionKey, TagSize);
            aes.Decrypt(blob.AsSpan(0, NonceSize), blob.AsSpan(NonceSize, plaintext.Length), blob.AsSpan(NonceSize + plaintext.Length), plaintext, Encoding.UTF8.GetBytes(kid));
            return plaintext;
        }
        catch (AuthenticationTagMismatchException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            return null;
        }
    }
}
