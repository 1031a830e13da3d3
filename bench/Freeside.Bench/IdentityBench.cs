using System.Diagnostics;
using Freeside.Features.Common;
using Freeside.Features.Common.Configuration;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Identity.Keys;
using Freeside.Features.Identity.Sessions;
using MediatR;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Freeside.Bench;

/// <summary>
/// In-process identity throughput on all cores: SIWE verification (EIP-4361 parse + EIP-191
/// recovery on secp256k1) and session-token validation, both cold (full ES256 + claims) and for a
/// token already verified once (the steady state of a signed-in user's requests).
/// </summary>
public static class IdentityBench
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(5);

    public static async Task<BenchReport> RunAsync(BenchContext context)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DATABASE_URL"] = context.AppConnectionString,
            ["DATABASE_MIGRATION_URL"] = context.OwnerConnectionString,
            ["FREESIDE_ADMIN_TOKEN"] = "bench-admin-token-0123456789abcdef",
            ["FREESIDE_KEY_ENCRYPTION_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["SIWE_DOMAINS"] = "app.example.com",
        }).Build();
        var settings = FreesideSettings.Load(configuration, isDevelopment: false).Settings
            ?? throw new InvalidOperationException("bench settings are invalid");
        var services = new ServiceCollection().AddLogging(l => l.SetMinimumLevel(LogLevel.Warning)).AddMetrics();
        services.AddFreesideFeatures(settings, configuration);
        await using var provider = services.BuildServiceProvider();
        await using (var scope = provider.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new RotateSigningKey.Command(RotateSigningKey.Trigger.Bootstrap));
        }

        var ring = provider.GetRequiredService<SigningKeyRing>();
        var snapshot = await ring.RefreshAsync(CancellationToken.None);
        var report = new BenchReport("identity");
        report.Parameters["cores"] = Environment.ProcessorCount;
        report.Parameters["duration_s_per_figure"] = Duration.TotalSeconds;

        report.Parameters["load_avg_1m_at_start"] = LoadAverage();
        var siwe = SiweThroughput(out var siwePerCpuSecond);
        report.Add("siwe_verifications_per_s", siwe, target: 5_000);
        report.Add("siwe_verifications_per_cpu_s", siwePerCpuSecond);

        var tokens = provider.GetRequiredService<SessionTokens>();
        var issued = Enumerable.Range(0, 1_000).Select(i => tokens.Issue(snapshot, Wallet(i % 16).Address, 31337).Token).ToArray();
        foreach (var token in issued)
        {
            if (!(await tokens.ValidateAsync(token, CancellationToken.None)).IsValid)
            {
                throw new InvalidOperationException("an issued token did not validate");
            }
        }

        report.Add("session_validations_per_s", Throughput(i => tokens.ValidateAsync(issued[i % issued.Length], CancellationToken.None).AsTask().Result.IsValid), target: 100_000);

        var cold = Enumerable.Range(0, 40_000).Select(i => tokens.Issue(snapshot, Wallet(i % 16).Address, 31337).Token).ToArray();
        var fresh = new SessionTokens(ring, settings.Capability<Freeside.Features.Identity.IdentitySettings>(), TimeProvider.System);
        report.Add("session_validations_uncached_per_s", Throughput(i => fresh.ValidateAsync(cold[i % cold.Length], CancellationToken.None).AsTask().Result.IsValid, cold.Length));
        report.Parameters["session_validations_per_s"] = "repeat validations of 1,000 live tokens (exact-token cache of verified tokens, expiry and kid re-checked each time)";
        report.Parameters["session_validations_uncached_per_s"] = "first validation of each token: header checks, ES256 signature, iss/aud/exp/nbf";
        report.Parameters["siwe_verifications_per_cpu_s"] = "the same operations divided by the CPU time this process used meanwhile (all threads, GC included): steadier than the wall-clock figure on a shared machine; times the core count, what the cores would do unshared";
        report.Parameters["siwe_verifications_per_s"] = "SiweVerifier.Verify on message text: EIP-4361 parse, domain/chain/time checks, EIP-191 recovery (NBitcoin.Secp256k1, Nethereum hashing)";
        return report;
    }

    private static double SiweThroughput(out double perCpuSecond)
    {
        var now = DateTimeOffset.UtcNow;
        var samples = Enumerable.Range(0, 64).Select(i =>
        {
            var wallet = Wallet(i % 16);
            var message = $"app.freeside.dev wants you to sign in with your Ethereum account:\n{wallet.Address.ToChecksumString()}\n\nSign in to Freeside\n\n"
                + $"URI: https://app.freeside.dev\nVersion: 1\nChain ID: 1\nNonce: {Convert.ToHexStringLower(BitConverter.GetBytes((long)i))}abcdef0123456789\n"
                + $"Issued At: {SiweMessage.FormatTimestamp(now)}";
            return (message, wallet.Sign(message));
        }).ToArray();
        var context = new SiweVerificationContext { AllowedDomains = ["app.freeside.dev"], AllowedChainIds = [1] };
        return Throughput(i =>
        {
            var (message, signature) = samples[i % samples.Length];
            return SiweVerifier.Verify(message, signature, context).IsValid;
        }, out perCpuSecond);
    }

    /// <summary>Operations per second over <see cref="Duration"/> on every core; every operation must succeed.</summary>
    private static double Throughput(Func<int, bool> operation, int? maxOperations = null) =>
        Throughput(operation, out _, maxOperations);

    private static double Throughput(Func<int, bool> operation, out double perCpuSecond, int? maxOperations = null)
    {
        long done = 0;
        var failures = 0L;
        using var process = Process.GetCurrentProcess();
        var cpuAtStart = process.TotalProcessorTime;
        var stopwatch = Stopwatch.StartNew();
        Parallel.For(0, Environment.ProcessorCount, worker =>
        {
            var i = worker;
            while (stopwatch.Elapsed < Duration)
            {
                for (var batch = 0; batch < 64; batch++, i += Environment.ProcessorCount)
                {
                    if (maxOperations is { } max && i >= max)
                    {
                        return;
                    }

                    if (!operation(i))
                    {
                        Interlocked.Increment(ref failures);
                    }

                    Interlocked.Increment(ref done);
                }
            }
        });
        var elapsed = stopwatch.Elapsed.TotalSeconds;
        process.Refresh();
        perCpuSecond = done / (process.TotalProcessorTime - cpuAtStart).TotalSeconds;
        if (failures > 0)
        {
            throw new InvalidOperationException($"{failures} operations failed");
        }

        return done / elapsed;
    }

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static BenchWallet Wallet(int i) => BenchWallet.All[i];

    private sealed class BenchWallet(byte[] key)
    {
        public static readonly BenchWallet[] All = Enumerable.Range(1, 16)
            .Select(i => new BenchWallet(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)))).ToArray();

        public EthereumAddress Address { get; } = PersonalSign.PrivateKeyToAddress(key);

        public string Sign(string message) => "0x" + Convert.ToHexStringLower(PersonalSign.Sign(PersonalSign.HashMessage(message), key));
    }
}
