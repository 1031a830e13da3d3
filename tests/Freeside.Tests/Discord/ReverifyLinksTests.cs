using System.Net.Http.Json;
using Freeside.Features.Discord;
using Freeside.Features.Linking;
using Freeside.Tests.Identity;
using Freeside.Tests.Identity.Ownership;
using Freeside.Tests.Inference;
using Freeside.Tests.Infrastructure;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using NSubstitute;
using Quartz;
using Freeside.DiscordFake;

namespace Freeside.Tests.Discord;

/// <summary>
/// anvil's demo collection behind one Discord server, and a second server whose community lives on a
/// chain that is down (chain 1 points at a closed port). Token 21 is minted to the third wallet so it
/// can give it away.
/// </summary>
public sealed class ReverifyApp : ChatApp
{
    public const int ThirdsToken = 21;

    public FakeDiscord Discord { get; private set; } = null!;

    protected override async Task BeforeStartAsync()
    {
        Discord = await FakeDiscord.StartAsync();
        await base.BeforeStartAsync();
        await MintAsync(Chain.Collection, TestWallet.Third.Address, ThirdsToken);
    }

    protected override async Task AfterStopAsync()
    {
        await base.AfterStopAsync();
        await Discord.DisposeAsync();
    }

    protected override IDictionary<string, string?> Settings(TestDatabase database)
    {
        var settings = base.Settings(database);
        settings["DISCORD_PUBLIC_KEY"] = Discord.PublicKeyHex;
        settings["DISCORD_APPLICATION_ID"] = FakeDiscord.ApplicationId;
        settings["DISCORD_BOT_TOKEN"] = FakeDiscord.BotToken;
        settings["DISCORD_API_URL"] = Discord.ApiUrl.ToString();
        settings["DISCORD_GATEWAY_ENABLED"] = "false";
        settings["DISCORD_QUEUE_RETRY_BASE_MS"] = "20";
        settings["NFT_OWNERSHIP_CACHE_SECONDS"] = "0";
        settings["CHAIN_RPC_URLS"] = $"31337={Chain.RpcUrl};1=http://127.0.0.1:{AnvilChain.FreePort()}";
        return settings;
    }
}

public sealed class ReverifyLinksTests(ReverifyApp app) : IClassFixture<ReverifyApp>, IAsyncLifetime
{
    private const string Slug = "reverify";
    private const string Guild = "555000000000000021";
    private const string OutageSlug = "reverify-outage";
    private const string OutageGuild = "555000000000000022";
    private const long AllPermissions = (1L << 16) | (1L << 34) | (1L << 35) | (1L << 36) | (1L << 38);

    public async Task InitializeAsync()
    {
        await ChatHttp.CommunityAsync(app, Slug, app.Chain.Collection);
        var admin = app.CreateAdminClient();
        await admin.PostAsJsonAsync("/api/v1/admin/communities",
            new { slug = OutageSlug, name = OutageSlug, chain_id = 1, collection_address = app.Chain.Collection, default_access_level = "pro" });
        (await admin.PutAsJsonAsync($"/api/v1/admin/communities/{Slug}/discord", new { guild_id = Guild })).IsSuccessStatusCode.ShouldBeTrue();
        (await admin.PutAsJsonAsync($"/api/v1/admin/communities/{OutageSlug}/discord", new { guild_id = OutageGuild })).IsSuccessStatusCode.ShouldBeTrue();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private async Task LinkAsync(string user, TestWallet wallet, int verifiedHoursAgo)
    {
        var address = wallet.Address.ToChecksumString().ToLowerInvariant();
        await app.Database.ExecuteAsync($"""
            INSERT INTO wallet_links (platform, external_user_id, wallet, linked_at, verified_at)
            VALUES ('discord', '{user}', '{address}', now() - interval '60 days', now() - interval '{verifiedHoursAgo} hours')
            """);
    }

    private async Task<string> OpenThreadAsync(string slug, string guild, string user, TestWallet wallet, int tokenId, string threadId)
    {
        var address = wallet.Address.ToChecksumString().ToLowerInvariant();
        await app.Database.ExecuteAsync($"""
            INSERT INTO discord_agent_threads (id, community_id, guild_id, token_id, holder_user_id, holder_wallet, parent_channel_id, thread_id, name, private, status, created_at)
            SELECT gen_random_uuid(), id, '{guild}', '{tokenId}', '{user}', '{address}', '666000000000000021', '{threadId}', 'Agent #{tokenId}', true, 'open', now()
            FROM communities WHERE slug = '{slug}'
            """);
        return threadId;
    }

    private async Task<DateTimeOffset> VerifiedAtAsync(string user) => new(
        await app.Database.ScalarAsync<DateTime>("SELECT verified_at FROM wallet_links WHERE platform = 'discord' AND external_user_id = @u", ("u", user)), TimeSpan.Zero);

    private Task<DateTime> CheckedAtAsync(string user) =>
        app.Database.ScalarAsync<DateTime>("SELECT checked_at FROM wallet_links WHERE platform = 'discord' AND external_user_id = @u", ("u", user));

    private Task<string?> ThreadStatusAsync(string threadId) =>
        app.Database.ScalarAsync<string>("SELECT status FROM discord_agent_threads WHERE thread_id = @t", ("t", threadId));

    private Task<long> WritesToAsync(string threadId, string containing) =>
        app.Database.ScalarAsync<long>("SELECT count(*) FROM discord_writes WHERE path = @p AND body LIKE @b",
            ("p", $"channels/{threadId}/messages"), ("b", "%" + containing + "%"));

    private Task RunJobAsync() => app.InScopeAsync(async services =>
    {
        var job = new ReverifyLinksJob(services.GetRequiredService<IMediator>(), NullLogger<ReverifyLinksJob>.Instance);
        await job.Execute(Substitute.For<IJobExecutionContext>(), CancellationToken.None);
        return 0;
    });

    private async Task<string> MyAgentAsync(string user, string tokenId)
    {
        var context = new InteractionContext("880000000000021001", FakeDiscord.ApplicationId, "tok-" + Guid.NewGuid().ToString("N"), Guild,
            "666000000000000021", user, "holder", AllPermissions);
        var reply = await app.SendAsync(new MyAgent.Command(context, tokenId));
        reply.IsSuccess.ShouldBeTrue(reply.Error?.Detail);
        return reply.Value.Content;
    }

    private Task<Features.Common.Errors.Result<ThreadMessage.Outcome>> SayAsync(string threadId, string messageId, string user, string text) =>
        app.SendAsync(new ThreadMessage.Command(Guild, threadId, messageId, user, false, text));

    [Fact]
    public async Task Reverify_WalletStillHoldsTheToken_VerifiedAtMovesAndTheThreadStaysOpen()
    {
        const string user = "771000000000000001";
        await LinkAsync(user, TestWallet.Demo, verifiedHoursAgo: 30);
        var thread = await OpenThreadAsync(Slug, Guild, user, TestWallet.Demo, 1, "881000000000000001");
        var before = await VerifiedAtAsync(user);

        await RunJobAsync();

        (await VerifiedAtAsync(user)).ShouldBeGreaterThan(before.AddHours(29));
        (await ThreadStatusAsync(thread)).ShouldBe("open");
    }

    [Fact]
    public async Task Reverify_NftTransferredAway_ThreadRevokedWithTheTransferNoticeAndTheHolderIgnored()
    {
        const string user = "771000000000000002";
        await LinkAsync(user, TestWallet.Third, verifiedHoursAgo: 30);
        var thread = await OpenThreadAsync(Slug, Guild, user, TestWallet.Third, ReverifyApp.ThirdsToken, "881000000000000002");
        var before = await VerifiedAtAsync(user);
        await app.Chain.TransferAsync(TestWallet.Third, app.Chain.Collection, TestWallet.Demo.Address, ReverifyApp.ThirdsToken);

        await RunJobAsync();

        (await ThreadStatusAsync(thread)).ShouldBe("revoked");
        (await WritesToAsync(thread, "new holder")).ShouldBe(1);
        (await VerifiedAtAsync(user)).ShouldBe(before);
        (await SayAsync(thread, "991000000000000002", user, "still mine?")).Value.ShouldBe(ThreadMessage.Outcome.Ignored);
        (await MyAgentAsync(user, ReverifyApp.ThirdsToken.ToString(System.Globalization.CultureInfo.InvariantCulture))).ShouldContain("does not hold");
    }

    [Fact]
    public async Task StaleLink_MessageAndMyAgent_RefusedWithVerifyExplanation_ThenReverifiedRegainsAccess()
    {
        const string user = "771000000000000003";
        await LinkAsync(user, TestWallet.Demo, verifiedHoursAgo: 49);
        var thread = await OpenThreadAsync(Slug, Guild, user, TestWallet.Demo, 2, "881000000000000003");
        var reservations = await ChatHttp.ReservationsAsync(app);

        (await SayAsync(thread, "991000000000000031", user, "hello?")).Value.ShouldBe(ThreadMessage.Outcome.Refused);
        (await WritesToAsync(thread, "Run /verify")).ShouldBe(1);
        var refused = await MyAgentAsync(user, "2");
        refused.ShouldContain("48 hours");
        refused.ShouldContain("/verify");
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations);
        (await ThreadStatusAsync(thread)).ShouldBe("open");

        await RunJobAsync();

        (await VerifiedAtAsync(user)).ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddHours(-1));
        (await MyAgentAsync(user, "2")).ShouldContain($"<#{thread}>", Case.Sensitive);
        (await SayAsync(thread, "991000000000000032", user, "hello again")).Value.ShouldBe(ThreadMessage.Outcome.Answered);
        (await ChatHttp.ReservationsAsync(app)).ShouldBe(reservations + 1);
    }

    [Fact]
    public async Task Reverify_ChainDown_NothingRevokedAndRetriedNextHourNotAgainInTheSameRun()
    {
        const string user = "771000000000000004";
        await LinkAsync(user, TestWallet.Deployer, verifiedHoursAgo: 47);
        var thread = await OpenThreadAsync(OutageSlug, OutageGuild, user, TestWallet.Deployer, 5, "881000000000000004");
        var before = await VerifiedAtAsync(user);

        await RunJobAsync();

        (await VerifiedAtAsync(user)).ShouldBe(before);
        (await ThreadStatusAsync(thread)).ShouldBe("open");
        (await WritesToAsync(thread, "new holder")).ShouldBe(0);
        var checkedAt = await CheckedAtAsync(user);
        var linked = await app.SendAsync(new FindLinkedWallet.Query(LinkPlatform.Discord, user));
        linked.Value.IsStale(DateTimeOffset.UtcNow).ShouldBeFalse();

        await RunJobAsync();

        (await CheckedAtAsync(user)).ShouldBe(checkedAt);
    }
}
