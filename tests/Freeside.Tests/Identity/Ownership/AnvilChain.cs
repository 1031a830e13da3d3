using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Identity.Ownership;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Identity.Ownership;

/// <summary>
/// A real local chain: anvil from tools/chain's npm packages on a free port with a throw-away state
/// directory, the demo collections deployed (DemoCollection is ERC-721 Enumerable, PlainCollection is
/// not) and tokens 1-3 minted to the demo wallet. Installs the npm packages once if they are missing.
/// </summary>
public sealed class AnvilChain : IAsyncDisposable
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    private readonly string _stateDirectory;

    private AnvilChain(string stateDirectory, Uri rpcUrl, string collection, string plainCollection)
    {
        _stateDirectory = stateDirectory;
        RpcUrl = rpcUrl;
        Collection = collection;
        PlainCollection = plainCollection;
    }

    public static string ToolsDirectory => Path.Combine(TestEnvironment.RepositoryRoot, "tools", "chain");

    public Uri RpcUrl { get; }

    public string Collection { get; }

    public string PlainCollection { get; }

    public static async Task<AnvilChain> StartAsync()
    {
        await InstallGate.WaitAsync();
        try
        {
            if (!Directory.Exists(Path.Combine(ToolsDirectory, "node_modules", "@foundry-rs")))
            {
                await RunAsync("npm", "ci", "--no-audit", "--no-fund");
            }

            await RunAsync("node", "chain.mjs", "compile");
        }
        finally
        {
            InstallGate.Release();
        }

        var state = Path.Combine(Path.GetTempPath(), "freeside-anvil-" + Guid.NewGuid().ToString("N")[..8]);
        var url = (await RunAsync(Path.Combine(ToolsDirectory, "start-anvil.sh"), FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture), state)).Trim();
        var demo = JsonDocument.Parse(await RunAsync("node", "chain.mjs", "demo", "--rpc", url)).RootElement;
        return new AnvilChain(state, new Uri(url), demo.GetProperty("collection").GetString()!, demo.GetProperty("plain_collection").GetString()!);
    }

    /// <summary>
    /// ERC-721 transferFrom sent straight to anvil's JSON-RPC: the wallets are anvil's own dev accounts,
    /// so anvil signs. Two or three HTTP calls, not a node start, so tests that race a cache TTL are not
    /// at the mercy of a loaded machine.
    /// </summary>
    public Task TransferAsync(TestWallet from, string contract, EthereumAddress to, int tokenId)
    {
        const string transferFrom = "23b872dd";
        var data = "0x" + transferFrom + Erc721Abi.Word(from.Address) + Erc721Abi.Word(to) + Erc721Abi.Word(tokenId);
        return SendAsync(from, contract, data, $"transfer of token {tokenId}");
    }

    /// <summary>The demo collections' owner-only <c>mint(address,uint256)</c>, sent by the deployer.</summary>
    public Task MintAsync(string contract, EthereumAddress to, int tokenId)
    {
        const string mint = "40c10f19";
        var data = "0x" + mint + Erc721Abi.Word(to) + Erc721Abi.Word(tokenId);
        return SendAsync(TestWallet.Deployer, contract, data, $"mint of token {tokenId}");
    }

    /// <summary>
    /// Sends a transaction and waits for its receipt. Automine puts it in a block at once, but anvil can
    /// answer eth_sendTransaction before the block is indexed, when the receipt still reads null: so the
    /// receipt is polled (≤ 10 s) rather than read once.
    /// </summary>
    private async Task SendAsync(TestWallet from, string contract, string data, string what)
    {
        var hash = (await RpcAsync("eth_sendTransaction", new { from = from.Address.ToChecksumString(), to = contract, data })).GetString();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var receipt = await RpcAsync("eth_getTransactionReceipt", hash);
        while (receipt.ValueKind == JsonValueKind.Null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            receipt = await RpcAsync("eth_getTransactionReceipt", hash);
        }

        if (receipt.ValueKind != JsonValueKind.Object || receipt.GetProperty("status").GetString() != "0x1")
        {
            throw new InvalidOperationException($"{what} was not mined successfully: {receipt.GetRawText()}");
        }
    }

    private async Task<JsonElement> RpcAsync(string method, params object?[] parameters)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsJsonAsync(RpcUrl, new { jsonrpc = "2.0", id = 1, method, @params = parameters });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        if (body.TryGetProperty("error", out var error))
        {
            throw new InvalidOperationException($"{method}: {error}");
        }

        return body.GetProperty("result").Clone();
    }

    public async ValueTask DisposeAsync()
    {
        await RunAsync(Path.Combine(ToolsDirectory, "stop-anvil.sh"), _stateDirectory);
        Directory.Delete(_stateDirectory, recursive: true);
    }

    private static async Task<string> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = ToolsDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
        }

        return stdout;
    }

    public static int FreePort() => TestPorts.Free();
}

/// <summary>
/// The app wired to a fresh anvil (chain 31337), plus two broken chains: chain 1 points at a closed
/// port, chain 10 at a socket that accepts and never answers (the 1 s timeout fires). The silent
/// socket counts the connections it accepted, so a test can tell whether a call reached it.
/// </summary>
public sealed class ChainApp : FreesideApp, IAsyncLifetime
{
    public const int OwnershipCacheSeconds = 3;

    private readonly List<Socket> _held = [];
    private TcpListener? _silent;

    public AnvilChain Chain { get; private set; } = null!;

    public int SilentChainConnections
    {
        get
        {
            lock (_held)
            {
                return _held.Count;
            }
        }
    }

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["CHAIN_RPC_URLS"] = $"31337={Chain.RpcUrl};1=http://127.0.0.1:{AnvilChain.FreePort()};10=http://127.0.0.1:{((IPEndPoint)_silent!.LocalEndpoint).Port}";
        settings["NFT_OWNERSHIP_CACHE_SECONDS"] = OwnershipCacheSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["CHAIN_RPC_TIMEOUT_SECONDS"] = "1";
        return settings;
    }

    async Task IAsyncLifetime.InitializeAsync()
    {
        Chain = await AnvilChain.StartAsync();
        _silent = new TcpListener(IPAddress.Loopback, 0);
        _silent.Start();
        _ = HoldSilentConnectionsAsync(_silent);
        await base.InitializeAsync();
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        await base.DisposeAsync();
        _silent?.Dispose();
        lock (_held)
        {
            _held.ForEach(socket => socket.Dispose());
        }

        await Chain.DisposeAsync();
    }

    private async Task HoldSilentConnectionsAsync(TcpListener listener)
    {
        try
        {
            while (true)
            {
                var socket = await listener.AcceptSocketAsync();
                lock (_held)
                {
                    _held.Add(socket);
                }
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
        }
    }
}
