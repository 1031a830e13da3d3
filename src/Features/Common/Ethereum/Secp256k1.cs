using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.EC;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Math.EC;

namespace Freeside.Features.Common.Ethereum;

// CustomNamedCurves (not SecNamedCurves) gives the specialised secp256k1 field arithmetic and the
// GLV endomorphism, several times faster for recovery than the generic Fp curve. The generator's
// precomputation tables attach to the point instance, so everyone shares these statics.
internal static class Secp256k1
{
    public const int ScalarLength = 32;

    public static readonly X9ECParameters Parameters = CustomNamedCurves.GetByName("secp256k1");

    public static readonly ECCurve Curve = Parameters.Curve;

    public static readonly ECPoint G = Parameters.G;

    public static readonly BigInteger N = Parameters.N;

    public static readonly BigInteger HalfN = N.ShiftRight(1);

    public static readonly ECDomainParameters Domain = new(Curve, G, N, Parameters.H);
}
