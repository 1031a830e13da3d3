using Org.BouncyCastle.Crypto.Digests;

namespace Freeside.Features.Common.Ethereum;

/// <summary>
/// Ethereum's Keccak-256 (original Keccak padding). Not FIPS-202 SHA3-256, which pads differently
/// and gives different digests, so System.Security.Cryptography.SHA3_256 must not stand in for it.
/// </summary>
public static class Keccak256
{
    public const int HashLength = 32;

    // BouncyCastle 1.8 digests take byte[] only; one digest and staging buffer per thread keeps
    // hashing allocation-free on the verification hot path.
    [ThreadStatic]
    private static Workspace? _workspace;

    public static byte[] Hash(ReadOnlySpan<byte> data)
    {
        var result = new byte[HashLength];
        Hash(data, result);
        return result;
    }

    public static void Hash(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        if (destination.Length < HashLength)
        {
            throw new ArgumentException($"Destination must hold {HashLength} bytes.", nameof(destination));
        }

        var workspace = _workspace ??= new Workspace();
        var digest = workspace.Digest;
        var buffer = workspace.Buffer;
        digest.Reset();
        while (!data.IsEmpty)
        {
            var count = Math.Min(data.Length, buffer.Length);
            data[..count].CopyTo(buffer);
            digest.BlockUpdate(buffer, 0, count);
            data = data[count..];
        }

        digest.DoFinal(workspace.Output, 0);
        workspace.Output.AsSpan().CopyTo(destination);
    }

    private sealed class Workspace
    {
        public KeccakDigest Digest { get; } = new(256);

        public byte[] Buffer { get; } = new byte[1088];

        public byte[] Output { get; } = new byte[HashLength];
    }
}
