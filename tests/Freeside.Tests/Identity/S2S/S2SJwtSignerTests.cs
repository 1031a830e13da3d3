using System.Security.Cryptography;
using System.Text;
using Freeside.Features.Identity.S2S;
using Freeside.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Freeside.Tests.Identity.S2S;

public sealed class S2SJwtSignerTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

    /// <summary>What finn does: fetch the JWKS over HTTP and verify ES256, iss, aud and lifetime against it.</summary>
    private async Task<TokenValidationResult> VerifyAsFinnAsync(string token)
    {
        var jwks = new JsonWebKeySet(await app.CreateClient().GetStringAsync("/.well-known/jwks.json"));
        return await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            ValidIssuer = "loa-freeside",
            ValidAudience = "loa-finn",
            IssuerSigningKeys = jwks.GetSigningKeys(),
            ClockSkew = TimeSpan.FromSeconds(5),
        });
    }

    private static S2SClaims Claims(Guid tenant, Guid reservation) => new(
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", tenant, "pro", ["cheap", "fast-code", "reviewer"], reservation,
        S2SJwtSigner.NftId(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", "2"), "fast-code");

    [Fact]
    public async Task Sign_VerifiesAgainstTheJwksDocument_WithTheContractClaims()
    {
        var tenant = Guid.NewGuid();
        var reservation = Guid.NewGuid();
        var signed = (await app.Services.GetRequiredService<S2SJwtSigner>().SignAsync(Claims(tenant, reservation), Body, CancellationToken.None)).Value;

        var result = await VerifyAsFinnAsync(signed.Token);

        result.IsValid.ShouldBeTrue(result.Exception?.Message);
        var token = (JsonWebToken)result.SecurityToken;
        token.Alg.ShouldBe("ES256");
        token.Typ.ShouldBe("JWT");
        token.Kid.ShouldBe(signed.Kid);
        token.GetPayloadValue<string>("iss").ShouldBe("loa-freeside");
        token.GetPayloadValue<string>("aud").ShouldBe("loa-finn");
        token.GetPayloadValue<string>("sub").ShouldBe("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        (token.GetPayloadValue<long>("exp") - token.GetPayloadValue<long>("iat")).ShouldBe(60);
        Guid.Parse(token.Id).ShouldBe(signed.Jti);
        token.GetPayloadValue<string>("tenant_id").ShouldBe(tenant.ToString());
        token.GetPayloadValue<string>("nft_id").ShouldBe("eip155:31337/0x5fbdb2315678afecb367f032d93f642f64180aa3/2");
        token.GetPayloadValue<string>("tier").ShouldBe("pro");
        token.GetPayloadValue<string[]>("allowed_pools").ShouldBe(["cheap", "fast-code", "reviewer"]);
        token.GetPayloadValue<string>("pool_id").ShouldBe("fast-code");
        token.GetPayloadValue<string>("budget_reservation_id").ShouldBe(reservation.ToString());
        token.GetPayloadValue<string>("req_hash").ShouldBe("sha256:" + Convert.ToHexStringLower(SHA256.HashData(Body)));
        token.GetPayloadValue<string>("contract_version").ShouldBe("7.0.0");
        token.TryGetPayloadValue<object>("nbf", out _).ShouldBeFalse();
    }

    [Fact]
    public async Task Sign_TwiceForTheSameRequest_NewJtiEachTime()
    {
        var signer = app.Services.GetRequiredService<S2SJwtSigner>();
        var claims = Claims(Guid.NewGuid(), Guid.NewGuid());

        var first = (await signer.SignAsync(claims, Body, CancellationToken.None)).Value;
        var retry = (await signer.SignAsync(claims, Body, CancellationToken.None)).Value;

        retry.Jti.ShouldNotBe(first.Jti);
    }

    [Fact]
    public async Task Sign_PlainApiUse_HasNoNftIdAndEnsembleClaimsWhenAsked()
    {
        var claims = new S2SClaims("key:fs_live_ab12", Guid.NewGuid(), "enterprise", ["cheap"], Guid.NewGuid(), Ensemble: new S2SEnsemble("best_of_n", 3, 2));
        var signed = (await app.Services.GetRequiredService<S2SJwtSigner>().SignAsync(claims, Body, CancellationToken.None)).Value;

        var token = new JsonWebToken(signed.Token);

        token.TryGetPayloadValue<string>("nft_id", out _).ShouldBeFalse();
        token.GetPayloadValue<string>("sub").ShouldBe("key:fs_live_ab12");
        token.GetPayloadValue<string>("ensemble_strategy").ShouldBe("best_of_n");
        token.GetPayloadValue<int>("ensemble_n").ShouldBe(3);
        token.GetPayloadValue<int>("ensemble_quorum").ShouldBe(2);
    }

    [Fact]
    public async Task Verify_TamperedBodyHashOrWrongAudience_FinnRefusesOrDetects()
    {
        var signed = (await app.Services.GetRequiredService<S2SJwtSigner>().SignAsync(Claims(Guid.NewGuid(), Guid.NewGuid()), Body, CancellationToken.None)).Value;
        var parts = signed.Token.Split('.');
        var payload = Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(parts[1])).Replace("\"pro\"", "\"enterprise\"", StringComparison.Ordinal);

        var result = await VerifyAsFinnAsync(parts[0] + "." + Base64UrlEncoder.Encode(payload) + "." + parts[2]);

        result.IsValid.ShouldBeFalse();
    }
}
