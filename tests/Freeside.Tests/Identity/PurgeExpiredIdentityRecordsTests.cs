using System.Net;
using Freeside.Features.Identity;
using Freeside.Tests.Infrastructure;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using NSubstitute;
using Quartz;

namespace Freeside.Tests.Identity;

/// <summary>PurgeExpiredIdentityRecords: what it keeps, what it counts, and that its job sends it.</summary>
public sealed class PurgeExpiredIdentityRecordsTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Purge_ExpiredRecords_DeletesThemKeepsRecentRevocationsAndCounts()
    {
        var (oldNonce, liveNonce) = (NewNonce(), NewNonce());
        var (oldJti, recentJti, liveJti) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        await app.Database.ExecuteAsync($"""
            INSERT INTO siwe_nonces (nonce, issued_at, expires_at, cached_in_redis) VALUES
                ('{oldNonce}', now() - interval '3 days', now() - interval '2 days', false),
                ('{liveNonce}', now(), now() + interval '5 minutes', false);
            INSERT INTO revoked_sessions (jti, revoked_at, expires_at) VALUES
                ('{oldJti}', now() - interval '4 days', now() - interval '3 days'),
                ('{recentJti}', now() - interval '2 hours', now() - interval '1 hour'),
                ('{liveJti}', now(), now() + interval '1 hour');
            """);

        var purged = await app.SendAsync(new PurgeExpiredIdentityRecords.Command());

        purged.Value.ShouldBe(new PurgeExpiredIdentityRecords.View(Nonces: 1, Revocations: 1));
        (await CountAsync("siwe_nonces", "nonce", oldNonce)).ShouldBe(0);
        (await CountAsync("siwe_nonces", "nonce", liveNonce)).ShouldBe(1);
        (await CountAsync("revoked_sessions", "jti", oldJti.ToString())).ShouldBe(0);
        (await CountAsync("revoked_sessions", "jti", recentJti.ToString())).ShouldBe(1);
        (await CountAsync("revoked_sessions", "jti", liveJti.ToString())).ShouldBe(1);
    }

    [Fact]
    public async Task Purge_AfterLogout_TheLoggedOutTokenStaysRefused()
    {
        var token = await IdentityHttp.SessionTokenAsync(app, TestWallet.Demo);
        var client = app.CreateClient().WithBearer(token);
        (await client.PostAsync("/api/v1/auth/logout", null)).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        var revocations = await app.Database.ScalarAsync<long>("SELECT count(*) FROM revoked_sessions WHERE expires_at > now()");
        revocations.ShouldBeGreaterThan(0);

        await app.SendAsync(new PurgeExpiredIdentityRecords.Command());

        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM revoked_sessions WHERE expires_at > now()")).ShouldBe(revocations);
        (await client.GetAsync("/api/v1/auth/session")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task PurgeJob_Execute_SendsThePurge()
    {
        var nonce = NewNonce();
        await app.Database.ExecuteAsync(
            $"INSERT INTO siwe_nonces (nonce, issued_at, expires_at, cached_in_redis) VALUES ('{nonce}', now() - interval '3 days', now() - interval '2 days', false)");

        await app.InScopeAsync(async services =>
        {
            var job = new PurgeExpiredIdentityRecordsJob(services.GetRequiredService<IMediator>());
            await job.Execute(Substitute.For<IJobExecutionContext>(), CancellationToken.None);
            return 0;
        });

        (await CountAsync("siwe_nonces", "nonce", nonce)).ShouldBe(0);
    }

    [Fact]
    public async Task Purge_NonceExpiredAMinuteAgo_IsDeletedAndLiveOnesStay()
    {
        var expired = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        var live = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        await app.Database.ExecuteAsync($"""
            INSERT INTO siwe_nonces (nonce, issued_at, expires_at, cached_in_redis) VALUES
                ('{expired}', now() - interval '6 minutes', now() - interval '1 minute', false),
                ('{live}', now(), now() + interval '5 minutes', false)
            """);

        // Hourly job: a nonce is gone within an hour of expiring, not a day later.
        (await app.SendAsync(new PurgeExpiredIdentityRecords.Command())).IsSuccess.ShouldBeTrue();

        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM siwe_nonces WHERE nonce = @n", ("n", expired))).ShouldBe(0);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM siwe_nonces WHERE nonce = @n", ("n", live))).ShouldBe(1);
    }

    [Fact]
    public void Schedule_RunsEveryHour() =>
        PurgeExpiredIdentityRecordsJob.Schedule.Split(' ')[2].ShouldBe("*", "the hours field: every hour");

    private static string NewNonce() => Guid.NewGuid().ToString("N");

    private Task<long> CountAsync(string table, string key, string value) =>
        app.Database.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE {key}::text = @v", ("v", value));
}
