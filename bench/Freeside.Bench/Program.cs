using Freeside.Bench;

// ./build.sh bench NAME → dotnet Freeside.Bench.dll NAME bench/results
var benchmarks = new Dictionary<string, Func<BenchContext, Task<BenchReport>>>(StringComparer.Ordinal)
{
    ["identity"] = IdentityBench.RunAsync,
    ["inference"] = InferenceBench.RunAsync,
    ["ledger"] = LedgerBench.RunAsync,
    ["payments"] = PaymentsBench.RunAsync,
    ["audit"] = AuditBench.RunAsync,
    ["api"] = ApiBench.RunAsync,
    ["discord"] = DiscordBench.RunAsync,
    ["ws"] = WebSocketBench.RunAsync,
};

// The ledger crash test's child process: ledger-burst APP_CONNECTION OWNER_CONNECTION ACCOUNT_ID (runs until killed).
if (args is ["ledger-burst", var app, var owner, var account])
{
    return await LedgerBench.BurstAsync(app, owner, Guid.Parse(account));
}

if (args.Length < 2 || !benchmarks.TryGetValue(args[0], out var run))
{
    await Console.Error.WriteLineAsync($"usage: Freeside.Bench NAME RESULTS_DIR; NAME is one of: {string.Join(", ", benchmarks.Keys.Order(StringComparer.Ordinal))}");
    return 2;
}

var context = await BenchContext.CreateAsync(args[0]);
try
{
    var report = await run(context);
    await report.WriteAsync(args[1]);
    return report.MeetsTargets ? 0 : 1;
}
finally
{
    await context.DisposeAsync();
}
